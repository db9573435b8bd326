"""Evaluation of runs. ``drpo.core.cost``: the LLM calls a run makes per role, beside A.5."""
