"""`drpo serve`: an OpenAI-compatible ``/v1/chat/completions`` (streaming too) for an aligned model.

Requests are answered by an ``AlignedChatModel`` (pack + base model spec); ``model`` in a request
is echoed back, not used to pick a model. Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from drpo.serving.aligned import AlignedChatModel

MODEL_ID = "drpo-aligned"


def _error(status: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return JSONResponse(body, status_code=status)


def _parse(body: Any) -> tuple[list[BaseMessage], dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ValueError("'messages' must be a list")
    messages = convert_to_messages(
        [{"role": m.get("role"), "content": _text(m.get("content"))} for m in body["messages"]]
    )
    params: dict[str, Any] = {}
    if body.get("temperature") is not None:
        params["temperature"] = float(body["temperature"])
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        params["max_tokens"] = int(limit)
    return messages, params


def _text(content: Any) -> str:
    """OpenAI content: a string or a list of parts; text parts only."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise ValueError("message content must be a string or a list of text parts")


def create_app(model: AlignedChatModel) -> Starlette:
    async def models(request: Request) -> Response:
        entry = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "drpo"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def completions(request: Request) -> Response:
        try:
            body = await request.json()
            messages, params = _parse(body)
            aligned = model.model_copy(update=params) if params else model
            prepared = await aligned.aprepare(messages)  # validates the turns before streaming
        except (ValueError, TypeError) as exc:
            return _error(400, " ".join(str(exc).split()))
        name = str(body.get("model") or MODEL_ID)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.get("stream"):
            return StreamingResponse(
                _sse(aligned, prepared, cid, created, name), media_type="text/event-stream"
            )
        reply = await aligned.base_runnable(body.get("stop")).ainvoke(prepared)
        usage = getattr(reply, "usage_metadata", None) or {}
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": "stop",
                    }
                ],
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
    model: AlignedChatModel, prepared: list[BaseMessage], cid: str, created: int, name: str
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
    async for piece in model.base_runnable(None).astream(prepared):
        if piece.text:
            yield event({"content": piece.text})
    yield event({}, "stop")
    yield "data: [DONE]\n\n"
