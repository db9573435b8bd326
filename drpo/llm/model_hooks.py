"""Persistent LLM-call cache: SQLite with JSON values (LangChain message dicts), never pickle.

Every model built by the registry carries a ``ModelCache`` for its spec: LangChain looks it up
before each call and writes the reply after a real call. It stores into the ``LLMCache`` of
the active run session (drpo/llm/session.py; the SQLite store is drpo/runtime/cache.py);
without a session it is a no-op. The key is
sha256 over the normalised model spec, the messages and LangChain's ``llm_string`` (the
model's generation parameters plus the call's kwargs: temperature, seed, max_tokens,
response_format). The seed carries the sample index, so M samples at temperature > 0 stay
distinct, while an identical re-run or a resume is answered from the cache (0 model calls).
Hits are counted per role; the cache is shared by the runs of a run dir by default.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from drpo.llm.session import CALL_GATE, Session, active_session, current_role


def cache_key(namespace: str, prompt: str, llm_string: str) -> str:
    payload = json.dumps([namespace, prompt, llm_string], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# LangChain passes the same prompt and llm_string objects to alookup and, after a miss, to
# aupdate, within one call's task: the key computed for the lookup is kept for the update
_LOOKED_UP: ContextVar[tuple[str, str, str, str] | None] = ContextVar("drpo_key", default=None)


def _key_of(namespace: str, prompt: str, llm_string: str) -> str:
    last = _LOOKED_UP.get()
    if last is not None and last[1] is prompt and last[2] is llm_string and last[0] == namespace:
        return last[3]
    key = cache_key(namespace, prompt, llm_string)
    _LOOKED_UP.set((namespace, prompt, llm_string, key))
    return key


def dump_generations(generations: Sequence[Generation]) -> str:
    """JSON of chat replies: LangChain's message dicts plus generation info."""
    rows = []
    for gen in generations:
        if not isinstance(gen, ChatGeneration):
            raise TypeError(f"only chat generations are cached, got {type(gen).__name__}")
        rows.append({"message": message_to_dict(gen.message), "info": gen.generation_info})
    return json.dumps(rows, ensure_ascii=False)


def load_generations(text: str) -> list[Generation]:
    rows = json.loads(text)
    messages = messages_from_dict([row["message"] for row in rows])
    return [
        ChatGeneration(message=m, generation_info=row["info"])
        for m, row in zip(messages, rows, strict=True)
    ]


def _tokens(generations: Sequence[Any]) -> dict[str, int]:
    used = {"input_tokens": 0, "output_tokens": 0}
    for generation in generations:
        meta = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
        for key in used:
            used[key] += int(meta.get(key, 0) or 0)
    return used


class ModelCache(BaseCache):
    """LangChain's cache hook of one model spec, backed by the active session's ``LLMCache``."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _lookup(self, session: Session | None, role: str, key: str) -> Any:
        if session is None or session.cache is None:
            return None
        value = session.cache.get(key)
        if value is None:
            return None
        try:
            generations = load_generations(value)
        except Exception:  # an unreadable entry is a miss; the call is made again
            return None
        session.usage.add(role, cache_hits=1)
        return generations

    def _update(
        self, session: Session | None, role: str, prompt: str, llm: str, value: RETURN_VAL_TYPE
    ) -> None:
        if session is None:
            return
        session.charge(role, _tokens(value))  # tokens and dollars; ends its reservation
        if session.cache is not None:
            key = cache_key(self.namespace, prompt, llm)
            session.cache.put(key, self.namespace, dump_generations(value))

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        key = cache_key(self.namespace, prompt, llm_string)
        return self._lookup(active_session(), current_role(), key)

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        self._update(active_session(), current_role(), prompt, llm_string, return_val)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        session = active_session()
        if session is None or session.cache is None:
            return None
        key = _key_of(self.namespace, prompt, llm_string)
        if not session.cache.may_hold(key):  # a sure miss: no read, no thread
            return None
        return await asyncio.to_thread(self._lookup, session, current_role(), key)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        session = active_session()
        if session is None:
            return
        session.charge(current_role(), _tokens(return_val))  # a usage line
        if session.cache is not None:  # handed to the cache's writer thread: no wait
            key = _key_of(self.namespace, prompt, llm_string)
            session.cache.put_later(key, self.namespace, dump_generations(return_val))

    def clear(self, **kwargs: Any) -> None:
        session = active_session()
        if session is not None and session.cache is not None:
            session.cache.clear()


class ErrorHook(BaseCallbackHandler):
    """A model's callback for its failed requests: the active session releases the dollars the
    call held in flight and counts the failure (``Session.errors``). It is the model's own
    callback, not the run's: the graph's nodes run with no callback to call."""

    run_inline = True  # a counter: no executor thread per event

    @property
    def ignore_chat_model(self) -> bool:
        # not called at a call's start: a handler without on_chat_model_start would be
        # called on_llm_start instead, with every message rendered to a string first
        return True

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        if (session := active_session()) is not None:
            session.release()
            session.errors.failed(error)


ERROR_HOOK = ErrorHook()


def attach_hooks(model: BaseChatModel, namespace: str) -> BaseChatModel:
    """Give a model the cache, the call gate (budget, usage, requests/s) and the error hook;
    LangChain's ``_agenerate_with_cache`` calls them around every real model call."""
    model.cache = ModelCache(namespace)
    model.rate_limiter = CALL_GATE
    model.callbacks = [ERROR_HOOK]
    return model
