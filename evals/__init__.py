"""Evaluation of runs. ``drpo.llm.cost``: the LLM calls a run makes per role, beside A.5."""
