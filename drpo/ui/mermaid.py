"""The graph as mermaid text: one loop whose levels run Alg. 1 (ICL) then Alg. 2 (prompt), with
the seven DRPO steps as nodes (graph/drpo.py)."""

from __future__ import annotations

from graph.drpo import graph


def mermaid() -> str:
    """Mermaid flowchart of the run graph (both stages run the same loop of nodes)."""
    return graph.get_graph().draw_mermaid()


def all_diagrams() -> dict[str, str]:
    return {"run": mermaid()}
