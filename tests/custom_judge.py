"""A user-supplied judge node for the swap test: scores by answer length, calls no model."""

from __future__ import annotations

from langgraph.runtime import Runtime

from drpo.core.config import Context
from drpo.core.scoring import Verdict
from drpo.core.state import JudgeTask


async def length_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    score = float(1 + len(task["output"]) % 5)
    return {
        "scores": {a: {"rationale": "length", "score": score} for a in task["aspects"]["aspects"]},
        "calls": 0,
    }


async def perfect_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """Every aspect scores 5 (stage 1 stops each track at once)."""
    aspects = task["aspects"]["aspects"]
    return {"scores": {a: {"rationale": "perfect", "score": 5.0} for a in aspects}, "calls": 0}
