"""Replies that are not answers, classified: cut at the token cap, refused, empty, a tool call
with invalid arguments, unparsable JSON, or JSON that fails the schema.

Each is an ``OutputParserException`` with a ``kind`` (the label counted in ``drpo show``'s
provider errors); ``drpo.llm.calls`` re-samples them and never scores one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ValidationError


# one class per kind, alike by design: callers catch some apart (TruncatedReply, RefusedReply)
class NonAnswer(OutputParserException):
    kind = "unparsable reply"


class TruncatedReply(NonAnswer):
    """The reply stopped at its token cap (``finish_reason=length``)."""

    kind = "truncated reply"


class RefusedReply(NonAnswer):
    kind = "refusal"


class EmptyReply(NonAnswer):
    kind = "empty reply"


class BadToolArguments(NonAnswer):
    kind = "invalid tool arguments"


class InvalidReply(NonAnswer):
    """Parsed JSON that does not validate against the reply schema."""

    kind = "invalid reply"


def kind_of(exc: BaseException) -> str:
    if isinstance(exc, NonAnswer):
        return exc.kind
    if isinstance(exc, ValidationError | ValueError) and not isinstance(exc, OutputParserException):
        return InvalidReply.kind
    return NonAnswer.kind


def text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "".join(parts)


def check_finish(message: BaseMessage, max_tokens: int | None) -> None:
    """Raise for a reply cut at its cap or refused. llama-cpp-python's server reports
    ``tool_calls`` for a tool call cut at ``max_tokens``: its usage tells it apart."""
    meta = message.response_metadata or {}
    finish = meta.get("finish_reason") or meta.get("stop_reason")
    used = (getattr(message, "usage_metadata", None) or {}).get("output_tokens") or 0
    if finish in ("length", "max_tokens") or (
        finish == "tool_calls" and max_tokens and used >= max_tokens
    ):
        raise TruncatedReply(f"the reply was cut at its cap of {max_tokens} tokens")
    refusal = message.additional_kwargs.get("refusal")
    if refusal or finish == "content_filter":
        raise RefusedReply(f"the model refused: {str(refusal or finish)[:200]}")


def check_text(message: BaseMessage, max_tokens: int | None) -> str:
    """The text of a plain answer, or an error for a non-answer."""
    check_finish(message, max_tokens)
    text = text_of(message)
    if not text.strip():
        raise EmptyReply("the reply is empty")
    return text


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """Parse JSON from a reply, tolerating code fences and chatter around one object."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate, strict=False)
        except json.JSONDecodeError:
            continue
    raise OutputParserException(f"reply is not valid JSON: {text[:200]!r}", llm_output=text)


def read_json(message: BaseMessage, max_tokens: int | None) -> Any:
    """The JSON of a structured reply: the first tool call's arguments, else the content."""
    check_finish(message, max_tokens)
    if isinstance(message, AIMessage):
        if message.tool_calls:
            return message.tool_calls[0]["args"]
        if message.invalid_tool_calls:
            bad = message.invalid_tool_calls[0]
            raise BadToolArguments(f"tool call {bad.get('name')!r}: {str(bad.get('args'))[:200]}")
    text = text_of(message)
    if not text.strip():
        raise EmptyReply("the reply is empty")
    return extract_json(text)


def validate(data: Any, schema: type[BaseModel] | dict[str, Any]) -> Any:
    """Pydantic validation (length bounds included); a dict schema needs a JSON object."""
    if isinstance(schema, dict):
        if not isinstance(data, dict):
            raise InvalidReply(f"expected a JSON object, got {str(data)[:200]!r}")
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidReply(f"reply does not match {schema.__name__}: {exc}") from exc
