"""judge: the evaluator E scores one output on its aspects; reward r = the mean score (§3.2.1)."""

from __future__ import annotations

from statistics import fmean

from langgraph.runtime import Runtime
from langgraph.types import Command

from drpo.core.config import Context
from drpo.core.scoring import resolve_judge
from drpo.core.state import AfterJudge, Evaluation, JudgeTask


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
    # (a task checkpointed by a drpo before "then" existed: a search level's)
    return Command(update=update, goto=task.get("then", "prune_beam"))
