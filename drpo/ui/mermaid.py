"""The graph as mermaid text: one loop whose levels run Alg. 1 (ICL) then Alg. 2 (prompt)."""

from __future__ import annotations

# one graph since layout 2; "icl" and "system_prompt" are kept as names for the same loop
STAGES = ("run", "icl", "system_prompt")


def mermaid(stage: str = "run") -> str:
    """Mermaid flowchart of the run graph (both stages are the same loop of nodes)."""
    from graph.drpo import graph

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    return graph.get_graph().draw_mermaid()


def all_diagrams() -> dict[str, str]:
    return {"run": mermaid("run")}
