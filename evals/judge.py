"""The evaluation judge: the benchmark's template, its system message, temperature 0.

Models that take a JSON-schema ``response_format`` (the embedded llama.cpp models, the fake) are
constrained to the reply shape; others (OpenAI-compatible servers, as in the benchmark) answer in
free text. Either way the reply goes through evals.parse. A reply that does not parse is
re-sampled (temperature 0.7, another seed) up to ``retries`` times; after that the item is
recorded as a parse failure, never as a score.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from typing_extensions import TypedDict

from drpo.core.schemas import judge_schema
from drpo.llm.backends.structured import json_schema_format
from drpo.llm.calls import attempt_params, call_text
from evals.benchmark import JUDGE_SYSTEM, Item, aspects_of, judge_prompt
from evals.parse import JudgeParseError, parse_judge_reply

REASON_MAX = 400


class JudgeResult(TypedDict):
    method: str
    item_id: int
    category: str
    repeat: int
    scores: dict[str, float] | None  # None: no attempt parsed
    attempts: int
    failed_attempts: int
    error: str | None
    reply: str


def reply_schema(aspects: tuple[str, ...]) -> dict[str, Any]:
    return judge_schema(aspects, reason="reason", reason_max=REASON_MAX)


def _takes_response_format(model: BaseChatModel) -> bool:
    from drpo.llm.backends.fake import FakeChatModel
    from drpo.llm.backends.llamacpp import ChatLlamaCpp

    return isinstance(model, FakeChatModel | ChatLlamaCpp)


async def judge_answer(
    model: BaseChatModel, item: Item, output: str, *, retries: int, max_tokens: int
) -> JudgeResult:
    aspects = aspects_of(item["category"])
    messages = [
        SystemMessage(JUDGE_SYSTEM),
        HumanMessage(judge_prompt(item["category"], item["instruction"], output)),
    ]
    extra: dict[str, Any] = {}
    if _takes_response_format(model):
        extra["response_format"] = json_schema_format(reply_schema(aspects))
    error, reply, scores = None, "", None
    attempts = max(1, retries)
    base = {"temperature": 0.0, "max_tokens": max_tokens, **extra}
    for attempt in range(attempts):
        # a retry re-samples, as in drpo.llm.calls.call_json
        # check=False: a cut or empty reply fails to parse below and is counted there
        reply = await call_text(model, list(messages), check=False, **attempt_params(base, attempt))
        try:
            scores = parse_judge_reply(reply, aspects)
        except JudgeParseError as exc:
            error = str(exc)
            continue
        break
    used = attempt + 1
    return JudgeResult(
        method="",
        item_id=item["id"],
        category=item["category"],
        repeat=0,
        scores=scores,
        attempts=used,
        failed_attempts=used - (scores is not None),
        error=None if scores is not None else error,
        reply=reply[:2000],
    )
