"""User-supplied ICL retrievers (``--retriever module:function``, retrieval/retrievers.py): each
logs the queries it was asked for to $DRPO_TEST_RETRIEVER_LOG and returns a fixed end of the
pool, so that tests can tell which retriever served which round."""

from __future__ import annotations

import json
import os
from typing import Any

from langgraph.runtime import Runtime

from drpo.core.messages import ICLExample


def _log(name: str, queries: list[str], k: int) -> None:
    with open(os.environ["DRPO_TEST_RETRIEVER_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"retriever": name, "queries": queries, "k": k}) + "\n")


async def first_k(
    pool: list[ICLExample], queries: list[str], k: int, runtime: Runtime[Any]
) -> list[list[ICLExample]]:
    _log("first_k", queries, k)
    return [pool[:k] for _ in queries]


async def last_k(
    pool: list[ICLExample], queries: list[str], k: int, runtime: Runtime[Any]
) -> list[list[ICLExample]]:
    _log("last_k", queries, k)
    return [pool[-k:] for _ in queries]


async def one_list_short(
    pool: list[ICLExample], queries: list[str], k: int, runtime: Runtime[Any]
) -> list[list[ICLExample]]:
    """A broken retriever: one list fewer than the queries."""
    return [pool[:k] for _ in queries[1:]]
