"""retrieve_icl: I_K*, the K optimized ICL examples most similar to each level query (Alg. 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from drpo.config import Context, RunConfig
from drpo.state import SearchState
from retrieval import aretrieve


async def retrieve_icl(state: SearchState, runtime: Runtime[Context]) -> dict[str, Any]:
    queries = state["level_queries"]
    k = RunConfig.model_validate(state["config"]).system_prompt.K
    if k == 0:
        return {"icl_context": {q: [] for q in queries}}
    cache = runtime.context.index_cache_dir
    found = await aretrieve(
        state["icl_pool"],
        queries,
        k,
        runtime.context.embedding_model,
        Path(cache) if cache else None,
    )
    return {"icl_context": dict(zip(queries, found, strict=True))}
