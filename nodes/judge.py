"""judge: the evaluator E scores one output on its aspects; reward r = the mean score (§3.2.1)."""

from __future__ import annotations

from statistics import fmean

from langgraph.runtime import Runtime
from langgraph.types import Command

from drpo.core.context import Context
from drpo.core.state import AfterJudge, Evaluation, JudgeTask
from drpo.llm.judges import resolve_judge


async def judge(task: JudgeTask, runtime: Runtime[Context]) -> Command[AfterJudge]:
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
    update = {"evaluations": [evaluation], "calls": {"judge": int(verdict.get("calls", 1))}}
    # the verdict goes where the router that sent this scoring said: one trigger per node
    return Command(update=update, goto=task["then"])
