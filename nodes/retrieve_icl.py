"""retrieve_icl: I_K*, the K optimized ICL examples shown with each query of the round (Alg. 2),
from the run's retriever (``Context.retriever``: FAISS over sentence-transformers embeddings, or
a ``module:function`` of the user's, ``retrieval.retrievers``). Stage 1 retrieves nothing (K=0 in
its spec: the candidate is the response itself)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from drpo.core.context import Context
from drpo.core.state import DRPOState, config_of
from nodes.stages import spec_of
from retrieval import resolve_retriever


async def retrieve_icl(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    queries = state["level_queries"]
    k = spec_of(state).k(config_of(state["config"]))
    if k == 0 or not queries:
        return {"icl_context": {q: [] for q in queries}}
    retriever = resolve_retriever(runtime.context.retriever)
    found = await retriever(state["icl_examples"], queries, k, runtime)
    name = runtime.context.retriever
    if not isinstance(found, list) or len(found) != len(queries):
        raise ValueError(f"retriever {name!r} must return one list per query ({len(queries)})")
    for examples in found:
        if not all(isinstance(e, dict) and isinstance(e.get("query"), str)
                   and isinstance(e.get("response"), str) for e in examples):  # fmt: skip
            raise ValueError(f"retriever {name!r} returned an example without query and response")
    return {"icl_context": {q: list(examples) for q, examples in zip(queries, found, strict=True)}}
