"""ICL retrievers, swappable like the judge: ``Context.retriever`` is a name from RETRIEVERS or an
import path ``module:function``.

Contract: ``async def my_retriever(pool, queries, k, runtime) -> list[list[ICLExample]]``: for
each query, the ``k`` examples of ``pool`` (the optimized ICL set I*) to show the base model with
it, best first. The retrieve_icl node calls it once per level or scoring round; a retriever that
blocks (embedding, a search index) must run that work in a thread, as ``faiss`` does, so that a
server's event loop stays free.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from langgraph.runtime import Runtime

from drpo.core.context import Context
from drpo.core.messages import ICLExample
from drpo.core.named import resolve_named
from retrieval.index import aretrieve

Retriever = Callable[
    [list[ICLExample], list[str], int, Runtime[Context]], Awaitable[list[list[ICLExample]]]
]


async def faiss_retriever(
    pool: list[ICLExample], queries: list[str], k: int, runtime: Runtime[Context]
) -> list[list[ICLExample]]:
    """The paper's: the K examples whose queries are most similar to the query (cosine of
    sentence-transformers embeddings, FAISS inner-product index; ``retrieval.index``)."""
    cache = runtime.context.index_cache_dir
    model = runtime.context.embedding_model
    return await aretrieve(pool, queries, k, model, Path(cache) if cache else None)


RETRIEVERS: dict[str, Retriever] = {"faiss": faiss_retriever}


def resolve_retriever(name: str) -> Retriever:
    return resolve_named("retriever", name, RETRIEVERS)
