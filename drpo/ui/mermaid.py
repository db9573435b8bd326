"""The graph as mermaid text: the run graph and the two stage graphs (Alg. 1 and Alg. 2)."""

from __future__ import annotations

from typing import Any

STAGES = ("run", "icl", "system_prompt")


def mermaid(stage: str = "run") -> str:
    """Mermaid flowchart of the run graph (``run``) or of a stage subgraph."""
    from graph.drpo import graph
    from graph.icl_stage import icl_stage
    from graph.prompt_stage import prompt_stage

    graphs: dict[str, Any] = {"run": graph, "icl": icl_stage, "system_prompt": prompt_stage}
    compiled = graphs.get(stage)
    if compiled is None:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    return compiled.get_graph().draw_mermaid()


def all_diagrams() -> dict[str, str]:
    return {stage: mermaid(stage) for stage in STAGES}
