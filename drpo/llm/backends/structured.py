"""Structured output through a JSON schema, for chat models that take an OpenAI-style
``response_format`` (the embedded llama.cpp model and the fake model).

The schema goes to the model as ``response_format={"type": "json_schema", ...}`` so that a
grammar-capable backend constrains decoding to it; the reply is then parsed and validated
with pydantic. An invalid reply raises an ``OutputParserException`` (drpo.llm.replies) so
callers can retry.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel

from drpo.llm.replies import extract_json, text_of, validate


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
    return validate(extract_json(text_of(message)), schema)


def structured_via_json_schema(
    model: BaseChatModel, schema: type[BaseModel] | dict[str, Any], **params: Any
) -> Runnable[Any, Any]:
    """``model.bind(response_format=..., **params) | parse`` — the schema-constrained call."""
    bound = model.bind(response_format=json_schema_format(schema), **params)
    return bound | RunnableLambda(lambda message: parse_reply(message, schema))
