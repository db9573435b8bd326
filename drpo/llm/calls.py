"""LLM calls of the nodes: structured output, re-sampling of non-answers, and a clear error
naming the call when the retries run out.

A reply that is not an answer (``drpo/llm/replies.py``: cut at the token cap, refused, empty, bad
tool arguments, unparsable, or failing the schema) is counted and re-sampled, never scored. A
reply cut at its cap is re-sampled once with twice the cap (on top of the retries); cut again,
the call fails with an error that says so (raise ``sampling.*_max_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.runtime import get_runtime
from pydantic import BaseModel, ValidationError

from drpo.llm.backends import methods
from drpo.llm.backends.methods import structured_message
from drpo.llm.backends.registry import is_openai, spec_of, with_params
from drpo.llm.provider_errors import kind_of as provider_kind
from drpo.llm.replies import TruncatedReply, check_text, kind_of, read_json, text_of
from drpo.llm.replies import validate as validate_reply
from drpo.llm.session import active_session, current_role, expect_call

T = TypeVar("T")
PARSE_ERRORS = (OutputParserException, ValidationError, ValueError)


class DRPOCallError(RuntimeError):
    """An LLM call whose reply never parsed; names the call. The run stays resumable."""


def attempt_params(params: dict[str, Any], attempt: int) -> dict[str, Any]:
    """A retry re-samples: at temperature 0 the same call would repeat the same bad reply."""
    if attempt == 0:
        return params
    seed = int(params.get("seed") or 0) + attempt
    return {**params, "temperature": max(float(params.get("temperature") or 0), 0.7), "seed": seed}


def run_methods(spec: str | None) -> str:
    """The structured-output method of the running node's role (Context.structured); a method
    the run recorded for this model (Context.structured_used: resume, fork) is used as known."""
    try:
        context = get_runtime().context
    except (RuntimeError, KeyError, AttributeError):  # not inside a graph run
        return "auto"
    used = getattr(context, "structured_used", None) or {}
    if spec and spec in used and not methods.learned(spec):
        methods.remember({spec: used[spec]})
    chosen = getattr(context, "structured", None) or {}
    return str(chosen.get(current_role(), "auto"))


class _Attempts:
    """Attempt bookkeeping shared by call_json and call_text: ``retries`` samples, plus one
    re-sample with twice the token cap for a reply cut at its cap (a small model that loops
    until the cap would loop again on the same sample)."""

    def __init__(self, name: str, retries: int, params: dict[str, Any]) -> None:
        self.name, self.left, self.params = name, max(1, retries), params
        self.attempts, self.samples, self.cap = 0, 0, params.get("max_tokens")
        self.cut = False

    def next_params(self) -> dict[str, Any]:
        params = attempt_params(self.params, self.samples)
        return {**params, "max_tokens": self.cap} if self.cap else params

    async def failed(self, exc: Exception) -> None:
        """Count a non-answer; raise once no attempt is left."""
        self.attempts += 1
        if isinstance(exc, TruncatedReply):
            if self.cut:
                raise DRPOCallError(
                    f"{self.name}: the reply was cut at its token cap twice (finish_reason="
                    f"length, last cap {self.cap}); raise the sampling max_tokens of this role"
                ) from exc
            self.cut, self.cap = True, (self.cap or 1024) * 2
            self.samples += 1
        else:
            self.samples += 1
            self.left -= 1
            if self.left <= 0:
                raise DRPOCallError(
                    f"{self.name}: the reply did not parse after {self.attempts} attempts: "
                    f"{str(exc)[:300]}"
                ) from exc
        if (session := active_session()) is not None:  # counted for the run's report
            session.errors.resampled(kind_of(exc))


async def call_json(
    model: BaseChatModel,
    schema: type[BaseModel] | dict[str, Any],
    prompt: str,
    *,
    name: str,
    retries: int,
    validate: Callable[[Any], T] = lambda x: x,
    method: str | None = None,
    **params: Any,
) -> T:
    """One JSON-producing call: schema-constrained, validated, re-sampled on a non-answer
    (each retry re-samples with another seed). ``method``: auto | json_schema | tools |
    json_object (default: the role's, from the run's Context)."""
    spec = spec_of(model)
    requested = method or run_methods(spec)
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    attempts = _Attempts(name, retries, params)

    async def rejected(how: str, exc: BaseException) -> None:
        if (session := active_session()) is not None:
            session.errors.rejected(how, provider_kind(exc))

    while True:
        call = attempts.next_params()
        expect_call(prompt, call.get("max_tokens"))
        try:
            raw, _ = await structured_message(
                model, spec, schema, messages, requested, call, rejected
            )
            return validate(validate_reply(read_json(raw, call.get("max_tokens")), schema))
        except PARSE_ERRORS as exc:
            await attempts.failed(exc)


async def call_text(
    model: BaseChatModel,
    messages: list[BaseMessage],
    *,
    name: str = "answer",
    retries: int = 3,
    check: bool = True,
    **params: Any,
) -> str:
    """One plain generation (the base model B answering a query); an empty or truncated answer
    is re-sampled like a JSON non-answer. ``check=False`` returns any reply as it is (the
    evaluation harness caps answers on purpose and parses judge replies itself)."""
    attempts = _Attempts(name, retries, params)
    text = "".join(str(m.content) for m in messages)
    while True:
        call = attempts.next_params()
        expect_call(text, call.get("max_tokens"))
        if is_openai(model):
            reply = await with_params(model, call).ainvoke(messages)
        else:  # call kwargs, as ``bind`` would pass them
            reply = await model.ainvoke(messages, **call)
        if not check:
            return text_of(reply)
        try:
            return check_text(reply, call.get("max_tokens"))
        except PARSE_ERRORS as exc:
            await attempts.failed(exc)
