"""User-supplied judge nodes (no model calls): the swap test's (by answer length), a perfect one,
and judges of system prompts for the confirmation tests (tests/unit/test_confirmation.py and
tests/integration/test_resume.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

from langgraph.runtime import Runtime

from drpo.core.context import Context
from drpo.core.state import JudgeTask
from drpo.llm.judges import Verdict


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


def _verdict(task: JudgeTask, score: float, why: str) -> Verdict:
    aspects = task["aspects"]["aspects"]
    return {"scores": {a: {"rationale": why, "score": score} for a in aspects}, "calls": 0}


def _is_confirmation(task: JudgeTask) -> bool:
    """The verdict goes to confirm_prompt: a query of the confirmation (nodes/confirm.py)."""
    return task["then"] == "confirm_prompt"


async def tips_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """A system prompt scores 1 + its number of tips (the fake optimizer adds one per rewrite,
    keeping up to 4): on every query, a later rewrite is better."""
    return _verdict(task, float(min(5, 1 + task["candidate"]["text"].count("- Tip"))), "tips")


async def lucky_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """tips_judge, except that on the confirmation queries every rewrite scores 1 below the
    initial prompt: the best prompt on validation was only lucky."""
    if task["candidate"]["level"] > 0 and _is_confirmation(task):
        return _verdict(task, 1.0, "unlucky")
    return _verdict(task, 2.0 if task["candidate"]["level"] == 0 else 5.0, "lucky")


_CONFIRMED: dict[str, int] = {}  # per $DRPO_TEST_FAIL: the best prompt's confirmations judged


async def failing_confirmation_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """tips_judge that logs each judgement to $DRPO_TEST_JUDGE_LOG and, while $DRPO_TEST_FAIL
    exists, fails on the best prompt's last confirmation query (its $DRPO_TEST_FAIL_AT-th, 8 by
    default) once the other tasks are done."""
    if _is_confirmation(task) and task["candidate"]["level"] > 0:
        flag = os.environ["DRPO_TEST_FAIL"]
        _CONFIRMED[flag] = seen = _CONFIRMED.get(flag, 0) + 1
        if os.path.exists(flag) and seen == int(os.environ.get("DRPO_TEST_FAIL_AT", "8")):
            await asyncio.sleep(0.5)  # the superstep's other judgements finish and are saved
            raise RuntimeError("judge failed on purpose")
    verdict = await tips_judge(task, runtime)
    with open(os.environ["DRPO_TEST_JUDGE_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps([task["candidate"]["id"], task["query"]]) + "\n")
    return verdict


async def noisy_tips_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """2 + half a point per tip, give or take a point that depends on the query and the answer
    (a fixed hash): later rewrites are better on average, not on every query, so a sequential
    confirmation needs more than one look."""
    digest = hashlib.sha256(f"{task['query']}|{task['output']}".encode()).digest()
    tips = task["candidate"]["text"].count("- Tip")
    return _verdict(task, float(min(5, max(1, 2 + tips // 2 + digest[0] % 3 - 1))), "noisy")


async def failing_phase_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """tips_judge that fails on every query of the phase named by $DRPO_TEST_FAIL_PHASE
    (``validation`` or ``confirmation``): a run left mid-validation or mid-confirmation."""
    phases = {"validation": "choose_prompt", "confirmation": "confirm_prompt"}
    if phases.get(os.environ.get("DRPO_TEST_FAIL_PHASE", "")) == task["then"]:
        raise RuntimeError("judge failed on purpose")
    return await tips_judge(task, runtime)
