"""The whole DRPO run: load_data -> optimize_icl (Alg. 1) -> optimize_system_prompt (Alg. 2).

``builder`` stays importable so the CLI and tests compile it with their own checkpointer;
``graph`` (no checkpointer) is what ``langgraph dev`` serves.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from drpo.config import Context
from drpo.state import DRPOInput, DRPOState, SearchState
from graph.icl_stage import icl_stage
from graph.prompt_stage import prompt_stage
from nodes.load_data import load_data


async def optimize_icl(state: DRPOState, config: RunnableConfig) -> dict[str, Any]:
    """Alg. 1 on every base example; I* = the top response of each track's final beam."""
    base = state["icl_base"]
    tracks = {
        f"icl/{i:02d}": {"query": e["query"], "initial": e["response"]} for i, e in enumerate(base)
    }
    stage_input: SearchState = {"stage": "icl", "config": state["config"], "tracks": tracks}  # type: ignore[typeddict-item]
    out = await icl_stage.ainvoke(stage_input, config)
    optimized = [
        {"query": tracks[t]["query"], "response": out["beam"][t][0]["candidate"]["text"]}
        for t in sorted(tracks)
    ]
    return {
        "icl_examples": optimized,
        "icl_levels": out["levels"],
        "aspects": out.get("aspects", {}),
        "calls": out.get("calls", {}),
    }


async def optimize_system_prompt(state: DRPOState, config: RunnableConfig) -> dict[str, Any]:
    """Alg. 2 with the optimized ICL pool; P* = the top prompt of the final beam."""
    stage_input: SearchState = {
        "stage": "system_prompt",
        "config": state["config"],
        "tracks": {
            "system_prompt": {"initial": state["config"]["system_prompt"]["initial_prompt"]}
        },
        "seed_order": state["seed_order"],
        "icl_pool": state["icl_examples"],
        "aspects": state.get("aspects", {}),
    }
    out = await prompt_stage.ainvoke(stage_input, config)
    best = out["beam"]["system_prompt"][0]
    return {
        "best_system_prompt": best["candidate"]["text"],
        "best_reward": best["reward"],
        "levels": out["levels"],
        "aspects": out.get("aspects", {}),
        "calls": out.get("calls", {}),
    }


builder = StateGraph(DRPOState, input_schema=DRPOInput, context_schema=Context)
builder.add_node("load_data", load_data)
builder.add_node("optimize_icl", optimize_icl)
builder.add_node("optimize_system_prompt", optimize_system_prompt)
builder.add_edge(START, "load_data")
builder.add_edge("load_data", "optimize_icl")
builder.add_edge("optimize_icl", "optimize_system_prompt")
builder.add_edge("optimize_system_prompt", END)

graph = builder.compile(name="drpo")
