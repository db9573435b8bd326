"""The DRPO workflow: stage 1 (Alg. 1, ICL responses) then stage 2 (Alg. 2, system prompt)."""

from graph.drpo import builder, graph

__all__ = ["builder", "graph"]
