"""Evaluation of runs. ``evals.cost``: the LLM calls a run makes per role, beside A.5."""
