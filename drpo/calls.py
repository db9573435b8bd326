"""LLM calls of the nodes: structured output + retry, and a clear error when retries run out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError

from drpo.models import structured
from drpo.models.registry import with_params

T = TypeVar("T")
PARSE_RETRY_EVENT = "drpo_parse_retry"
PARSE_ERRORS = (OutputParserException, ValidationError, ValueError)


class DRPOCallError(RuntimeError):
    """An LLM call whose reply never parsed; names the call. The run stays resumable."""


def attempt_params(params: dict[str, Any], attempt: int) -> dict[str, Any]:
    """A retry re-samples: at temperature 0 the same call would repeat the same bad reply."""
    if attempt == 0:
        return params
    seed = int(params.get("seed") or 0) + attempt
    return {**params, "temperature": max(float(params.get("temperature") or 0), 0.7), "seed": seed}


def _same(messages: list[BaseMessage]) -> list[BaseMessage]:
    return messages


async def _note_retry(messages: list[BaseMessage], config: RunnableConfig) -> list[BaseMessage]:
    """Tell the run's callbacks (drpo/provider_errors.py) that a reply was re-sampled."""
    await adispatch_custom_event(PARSE_RETRY_EVENT, {}, config=config)
    return messages


async def call_json(
    model: BaseChatModel,
    schema: type[BaseModel] | dict[str, Any],
    prompt: str,
    *,
    name: str,
    retries: int,
    validate: Callable[[Any], T] = lambda x: x,
    **params: Any,
) -> T:
    """One JSON-producing call: schema-constrained, validated, retried on a bad reply
    (each retry is a fallback that re-samples with another seed)."""
    attempts = [
        (RunnableLambda(_note_retry) if i else RunnableLambda(_same))
        | structured(model, schema, **attempt_params(params, i))
        | RunnableLambda(validate)
        for i in range(max(1, retries))
    ]
    chain = attempts[0].with_fallbacks(attempts[1:], exceptions_to_handle=PARSE_ERRORS)
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    try:
        return await chain.ainvoke(messages)
    except PARSE_ERRORS as exc:
        raise DRPOCallError(
            f"{name}: the reply did not parse after {len(attempts)} attempts: {str(exc)[:300]}"
        ) from exc


async def call_text(model: BaseChatModel, messages: list[BaseMessage], **params: Any) -> str:
    """One plain generation (the base model B answering a query)."""
    bound = with_params(model, params) if isinstance(model, ChatOpenAI) else model.bind(**params)
    reply = await bound.ainvoke(messages)
    content = reply.content
    return content if isinstance(content, str) else str(content)
