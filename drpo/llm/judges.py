"""Judges, swappable by configuration: a name from JUDGES or an import path "module:function".

Contract: ``async def my_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict`` where
``Verdict = {"scores": {aspect: {"rationale": str, "score": float 1..5}}, "calls": int}``.
The judge node turns the verdict into an Evaluation whose reward is the mean score.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from drpo.core.context import Context
from drpo.core.meta_prompts import JUDGE, aspect_list, eval_dict
from drpo.core.named import resolve_named
from drpo.core.schemas import judge_schema, validate_judge_reply
from drpo.core.state import JudgeTask
from drpo.llm.backends.registry import get_chat_model
from drpo.llm.calls import call_json


class Verdict(TypedDict):
    scores: dict[str, dict[str, Any]]
    calls: int


JudgeFn = Callable[[JudgeTask, Runtime[Context]], Awaitable[Verdict]]
JudgeName = Literal["dynamic", "holistic"]


async def dynamic_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """The paper's rewarding prompt (App. E.1): one score and rationale per selected aspect."""
    names = list(task["aspects"]["aspects"])
    prompt = JUDGE.format(
        query=task["query"],
        output=task["output"],
        aspect_list=aspect_list(names, task["aspects"]["aspects"]),
        aspect_reason=task["aspects"]["reasoning"],
        eval_dict=eval_dict(names),
    )
    scores = await call_json(
        get_chat_model(runtime.context.judge_model),
        judge_schema(names),
        prompt,
        name=f"judge {task['candidate']['id']} on query {task['query'][:60]!r}",
        retries=runtime.context.parse_retries,
        validate=lambda data: validate_judge_reply(data, names),
        temperature=task["sampling"]["judge_temperature"],
        max_tokens=task["sampling"]["json_max_tokens"],
    )
    return {"scores": {k: v.model_dump() for k, v in scores.items()}, "calls": 1}


class Overall(BaseModel):
    rationale: str = Field(max_length=600)
    score: int = Field(ge=1, le=5)


HOLISTIC = """Rate how well the output answers the query, from 1 (useless or harmful) to 5 \
(excellent: helpful, correct, clear and safe). Reply as JSON {{"rationale": "...", "score": N}}.

## Query
{query}

## Output
{output}"""


async def holistic_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """A different scoring prompt: one overall score, used for every selected aspect."""
    reply: Overall = await call_json(
        get_chat_model(runtime.context.judge_model),
        Overall,
        HOLISTIC.format(query=task["query"], output=task["output"]),
        name=f"holistic judge {task['candidate']['id']}",
        retries=runtime.context.parse_retries,
        temperature=0.0,
    )
    scores = {a: reply.model_dump() for a in task["aspects"]["aspects"]}
    return {"scores": scores, "calls": 1}


JUDGES: dict[str, JudgeFn] = {"dynamic": dynamic_judge, "holistic": holistic_judge}


def resolve_judge(name: str) -> JudgeFn:
    """Map a judge name or "module:function" path to the judge function."""
    return resolve_named("judge", name, JUDGES)
