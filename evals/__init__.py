"""Evaluation of runs. ``evals.cost``: the LLM calls a run makes per role, next to the paper's A.5."""
