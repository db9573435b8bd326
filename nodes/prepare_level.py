"""prepare_level: what level t scores on, before its transitions.

Stage 1: each track's own query. Stage 2 (Alg. 2): the level's seed queries x_t (``drpo.core.plan``)
and I_K*, the K optimized ICL examples most similar to each (retrieval). The aspects R_q of
every query were selected up front; this reads the level's from the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from drpo.core.config import Context
from drpo.core.messages import ICLExample
from drpo.core.plan import level_queries
from drpo.core.records import read_plan, thread_of
from drpo.core.state import DRPOState, config_of
from nodes.select_aspects import lookup_aspects
from retrieval import aretrieve


async def retrieve_context(
    pool: list[ICLExample], queries: list[str], k: int, runtime: Runtime[Context]
) -> dict[str, list[ICLExample]]:
    if k == 0:
        return {q: [] for q in queries}
    cache = runtime.context.index_cache_dir
    found = await aretrieve(
        pool, queries, k, runtime.context.embedding_model, Path(cache) if cache else None
    )
    return dict(zip(queries, found, strict=True))


async def prepare_level(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    stage = state["stage"]
    if stage == "icl":
        done = set(state.get("done_tracks", []))
        queries = sorted(
            {t["query"] for name, t in state["tracks"].items() if name not in done and "query" in t}
        )
        context: dict[str, list[ICLExample]] = {}
    else:
        seeds = await read_plan(runtime.store, thread_of(runtime))
        queries = level_queries(config, seeds, state["level"])
        context = await retrieve_context(
            state["icl_examples"], queries, config.system_prompt.K, runtime
        )
    aspects, calls = await lookup_aspects(runtime, config, stage, queries)
    out = {"level_queries": queries, "level_aspects": aspects, "icl_context": context}
    return {**out, "calls": calls} if calls else out
