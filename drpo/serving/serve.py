"""`drpo serve`: an OpenAI-compatible ``/v1/chat/completions`` (streaming too) for an aligned model.

Requests are answered by an ``AlignedChatModel`` (pack + base model spec); ``model`` in a request
is echoed back, not used to pick a model. Binds 127.0.0.1 by default. Every request passes the
server's ``Guard`` (drpo/web/guard.py): Host, Origin, the API key (``Authorization: Bearer``),
JSON as ``application/json`` and a body of at most ``Guard.max_body`` bytes (413). A malformed
request is a 400 with one line; nothing a client sends puts a traceback in the log.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from drpo.serving.aligned import AlignedChatModel
from drpo.web.guard import Guard, Refusal

MODEL_ID = "drpo-aligned"
MAX_MESSAGES = 1024
MAX_TOKENS = 1 << 17
log = logging.getLogger("drpo.serve")


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message; text only (``tool`` turns and images are not served)."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields this server reads; others of the OpenAI API are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    model: str | None = Field(default=None, max_length=256)
    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    stream: bool = False

    def lc_messages(self) -> list[BaseMessage]:
        roles = {"developer": "system"}
        return convert_to_messages(
            [{"role": roles.get(m.role, m.role), "content": m.text()} for m in self.messages]
        )

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        limit = self.max_completion_tokens or self.max_tokens
        if limit is not None:
            params["max_tokens"] = limit
        return params

    def stops(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop


def _error(status: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return JSONResponse(body, status_code=status)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


async def parse_request(request: Request, guard: Guard) -> ChatRequest:
    """The checked request; a ``Refusal`` (4xx, one line) otherwise."""
    body = await guard.read_json(request)
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise Refusal(400, _first_error(exc)) from None
    except RecursionError:
        raise Refusal(400, "the request is nested too deeply") from None


def create_app(model: AlignedChatModel, guard: Guard) -> Starlette:
    async def models(request: Request) -> Response:
        try:
            guard.check(request, changes_state=True)  # OpenAI asks the key of every call
        except Refusal as exc:
            return _error(exc.status, exc.message)
        entry = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "drpo"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def completions(request: Request) -> Response:
        try:
            guard.check(request)
            chat = await parse_request(request, guard)
            params = chat.params()
            aligned = model.model_copy(update=params) if params else model
            prepared = await aligned.aprepare(chat.lc_messages())  # checks the turns
        except Refusal as exc:
            return _error(exc.status, exc.message)
        except (ValueError, TypeError) as exc:
            return _error(400, " ".join(str(exc).split()))
        name = chat.model or MODEL_ID
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if chat.stream:
            return StreamingResponse(
                _sse(aligned, prepared, chat.stops(), cid, created, name),
                media_type="text/event-stream"
            )
        try:
            reply = await aligned.base_runnable(chat.stops()).ainvoke(prepared)
        except Exception as exc:  # the base model failed: one line in the log and the reply
            line = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            log.error("base model failed: %s", line)
            return _error(502, f"the base model failed: {line}")
        usage = getattr(reply, "usage_metadata", None) or {}
        message = {"role": "assistant", "content": reply.text}
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": name,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": usage.get("input_tokens", 0),
                    "completion_tokens": usage.get("output_tokens", 0),
                    "total_tokens": usage.get("total_tokens", 0),
                },
            }
        )

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ]
    )


async def _sse(
    model: AlignedChatModel,
    prepared: list[BaseMessage],
    stop: list[str] | None,
    cid: str,
    created: int,
    name: str,
) -> AsyncIterator[str]:
    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n"

    yield event({"role": "assistant", "content": ""})
    try:
        async for piece in model.base_runnable(stop).astream(prepared):
            if piece.text:
                yield event({"content": piece.text})
    except Exception as exc:  # headers are sent: end the stream with one line in the log
        log.error("base model failed mid-stream: %s: %s", type(exc).__name__, exc)
        yield event({}, "error")
        return
    yield event({}, "stop")
    yield "data: [DONE]\n\n"
