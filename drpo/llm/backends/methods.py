"""How JSON output is requested from an OpenAI-style server, per role: ``json_schema``,
``tools`` (a forced function call) or ``json_object`` (the schema in the prompt), or ``auto``.

``auto`` tries them in that order; a server that rejects a method (a 4xx/5xx naming the response
format, the schema or tools) moves the call on to the next one, and the method that worked is
learned per model spec: later calls, and a resumed or forked run (``Context.structured_used``,
saved in run.json), use it without probing again. The requests are LangChain's
``with_structured_output`` (``json_schema`` / ``function_calling`` / ``json_mode``) on the
strict-subset schema of ``drpo/llm/backends/wire.py``; the reply is validated by the caller.
The embedded and fake models take a JSON schema (with its length bounds) as a grammar instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel

from drpo.llm.backends.registry import is_openai, with_params
from drpo.llm.backends.structured import json_schema_format
from drpo.llm.backends.wire import schema_instructions, wire_schema
from drpo.llm.replies import RefusedReply, TruncatedReply

if TYPE_CHECKING:  # loaded with the first OpenAI model (drpo/llm/backends/registry.py)
    from langchain_openai import ChatOpenAI

METHODS = ("json_schema", "tools", "json_object")
CHOICES = ("auto", *METHODS)
JSON_ROLES = ("selector", "optimizer", "judge")  # the base model answers in plain text
LANGCHAIN_METHOD = {"json_schema": "json_schema", "tools": "function_calling"}
REJECTED_STATUS = (400, 404, 415, 422, 500, 501)
FORMAT_WORDS = ("response_format", "json_schema", "json schema", "schema", "tool", "function")

_LEARNED: dict[str, str] = {}
_LOCK = threading.Lock()
_PROBES: dict[tuple[str, int], asyncio.Lock] = {}
Rejected = Callable[[str, BaseException], Awaitable[None]]


class FormatsRejected(RuntimeError):
    """A server that rejected every structured-output method."""


def learned(spec: str | None) -> str | None:
    with _LOCK:
        return _LEARNED.get(spec) if spec else None


def learn(spec: str, method: str) -> None:
    with _LOCK:
        _LEARNED[spec] = method


def remember(methods: dict[str, str]) -> None:
    """Methods recorded by a run (resume, fork): used without probing."""
    with _LOCK:
        _LEARNED.update({k: v for k, v in methods.items() if v in METHODS})


def forget() -> None:
    with _LOCK:
        _LEARNED.clear()


def parse_structured(items: list[str]) -> dict[str, str]:
    """``["judge=tools", ...]`` -> {role: method}; ValueError names the bad item."""
    out: dict[str, str] = {}
    for item in items:
        role, sep, method = item.partition("=")
        if not sep or role not in JSON_ROLES:
            raise ValueError(
                f"--structured {item!r}: expected ROLE=METHOD with ROLE one of {JSON_ROLES} "
                "(the base model answers in plain text)"
            )
        if method not in CHOICES:
            raise ValueError(f"--structured {item!r}: unknown method; choose from {CHOICES}")
        out[role] = method
    return out


def rejects_format(exc: BaseException) -> bool:
    """Whether a failed request is the server refusing the way JSON output was asked for."""
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in REJECTED_STATUS:
        return False
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in FORMAT_WORDS)


async def _openai_reply(
    model: ChatOpenAI,
    schema: type[BaseModel] | dict[str, Any],
    messages: list[BaseMessage],
    method: str,
    params: dict[str, Any],
) -> BaseMessage:
    name, wire = wire_schema(schema)
    bound = with_params(model, params)
    if method == "json_schema":
        request: Any = {"name": name, "schema": wire, "strict": True}
    elif method == "tools":
        request = {"name": name, "description": f"Reply with a {name}.", "parameters": wire}
    else:
        request, last = wire, messages[-1]
        messages = [*messages[:-1], HumanMessage(str(last.content) + schema_instructions(wire))]
    runnable = bound.with_structured_output(
        request, method=LANGCHAIN_METHOD.get(method, "json_mode"), include_raw=True
    )
    import openai

    try:
        out: dict[str, Any] = await runnable.ainvoke(messages)  # type: ignore[assignment]
    except openai.LengthFinishReasonError as exc:  # the SDK's parse of a json_schema reply
        raise TruncatedReply(
            f"the reply was cut at its cap of {params.get('max_tokens')} tokens"
        ) from exc
    except openai.ContentFilterFinishReasonError as exc:
        raise RefusedReply("the reply was stopped by the content filter") from exc
    raw: BaseMessage = out["raw"]
    return raw


async def structured_message(
    model: BaseChatModel,
    spec: str | None,
    schema: type[BaseModel] | dict[str, Any],
    messages: list[BaseMessage],
    requested: str,
    params: dict[str, Any],
    on_reject: Rejected,
) -> tuple[BaseMessage, str]:
    """The raw reply of one structured call and the method that produced it."""
    if not is_openai(model):  # embedded or fake model: a grammar from the schema
        # call kwargs, not ``bind``: the same llm_string (cache key), no binding built per call
        reply = await model.ainvoke(messages, response_format=json_schema_format(schema), **params)
        return reply, "grammar"
    if requested != "auto":
        return await _openai_reply(model, schema, messages, requested, params), requested
    if known := learned(spec):
        return await _openai_reply(model, schema, messages, known, params), known
    key = (spec or str(id(model)), id(asyncio.get_running_loop()))
    lock = _PROBES.setdefault(key, asyncio.Lock())
    async with lock:  # one probe per model; the other calls wait for its answer
        if known := learned(spec):
            return await _openai_reply(model, schema, messages, known, params), known
        reasons = []
        for method in METHODS:
            try:
                raw = await _openai_reply(model, schema, messages, method, params)
            except (TruncatedReply, RefusedReply):  # an answer in the method, not an answer
                if spec:
                    learn(spec, method)
                raise
            except Exception as exc:
                if not rejects_format(exc):
                    raise
                await on_reject(method, exc)
                reasons.append(f"{method}: {' '.join(str(exc).split())[:160]}")
                continue
            if spec:
                learn(spec, method)
            return raw, method
    raise FormatsRejected(
        f"{spec or 'the model server'} rejected every structured-output method ("
        + "; ".join(reasons)
        + ")"
    )
