"""``ChatOpenAI`` for OpenAI-compatible servers (vLLM, llama.cpp, Ollama, gateways)."""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI


class CompatibleChatOpenAI(ChatOpenAI):
    """Sends the token cap as ``max_tokens`` too: langchain-openai renames it to OpenAI's newer
    ``max_completion_tokens``, which llama-cpp-python's server and older Ollama ignore (they
    would generate up to the context size)."""

    def _get_request_payload(
        self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if payload.get("max_completion_tokens") is not None:
            payload["max_tokens"] = payload["max_completion_tokens"]
        return payload
