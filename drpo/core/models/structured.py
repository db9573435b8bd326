"""Structured output through a JSON schema, for chat models that take an OpenAI-style
``response_format`` (the embedded llama.cpp model and the fake model).

The schema goes to the model as ``response_format={"type": "json_schema", ...}`` so that a
grammar-capable backend constrains decoding to it; the reply is then parsed and validated
with pydantic. An invalid reply raises ``OutputParserException`` so callers can retry.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, ValidationError

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


@functools.cache
def _model_schema(schema: type[BaseModel]) -> str:
    # generating a model's JSON schema takes ~3 ms; call_json needs one per attempt per call
    return json.dumps(schema.model_json_schema())


def json_schema_format(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """OpenAI-style ``response_format`` for a pydantic model or a JSON-schema dict."""
    if isinstance(schema, dict):
        name, body = str(schema.get("title", "reply")), schema
    else:
        name, body = schema.__name__, json.loads(_model_schema(schema))  # a fresh copy
    return {"type": "json_schema", "json_schema": {"name": name, "schema": body, "strict": True}}


def parse_reply(message: BaseMessage, schema: type[BaseModel] | dict[str, Any]) -> Any:
    text = message.content if isinstance(message.content, str) else str(message.content)
    data = extract_json(text)
    if isinstance(schema, dict):
        if not isinstance(data, dict):
            raise OutputParserException(f"expected a JSON object, got {text[:200]!r}")
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise OutputParserException(f"reply does not match {schema.__name__}: {exc}") from exc


def structured_via_json_schema(
    model: BaseChatModel, schema: type[BaseModel] | dict[str, Any], **params: Any
) -> Runnable[Any, Any]:
    """``model.bind(response_format=..., **params) | parse`` — the schema-constrained call."""
    bound = model.bind(response_format=json_schema_format(schema), **params)
    return bound | RunnableLambda(lambda message: parse_reply(message, schema))
