"""judge: the evaluator E scores one output on its aspects; reward r = the mean score (§3.2.1)."""

from __future__ import annotations

from statistics import fmean
from typing import Any

from langgraph.runtime import Runtime

from drpo.core.config import Context
from drpo.core.scoring import resolve_judge
from drpo.core.state import Evaluation, JudgeTask


async def judge(task: JudgeTask, runtime: Runtime[Context]) -> dict[str, Any]:
    verdict = await resolve_judge(runtime.context.judge_node)(task, runtime)
    scores = verdict["scores"]
    if not scores:
        raise ValueError(f"judge returned no scores for {task['candidate']['id']}")
    evaluation: Evaluation = {
        "candidate": task["candidate"],
        "query": task["query"],
        "output": task["output"],
        "scores": scores,
        "reward": fmean(float(s["score"]) for s in scores.values()),
    }
    return {"evaluations": [evaluation], "calls": {"judge": int(verdict.get("calls", 1))}}
