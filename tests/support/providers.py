"""Model clients made afresh for tests against local OpenAI-like servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_openai.chat_models import _client_utils

from drpo.llm.backends import methods, registry


def fresh_clients() -> None:
    """Model clients are cached per spec, and langchain-openai caches its httpx clients per
    process; each asyncio.run (one per CLI call here) needs new ones, as a new process would."""
    registry._MODELS.clear()
    _client_utils._cached_async_httpx_client.cache_clear()


def fresh_provider(
    monkeypatch: pytest.MonkeyPatch, timeout_s: str, openai_key: str | None = None
) -> Iterator[None]:
    """For an autouse fixture (``yield from``) of tests against a local OpenAI-like server: a
    client timeout of ``timeout_s``, no DRPO_API_KEY, OPENAI_API_KEY ``openai_key`` (or none),
    and new model clients, with no structured-output methods learned, before and after."""
    monkeypatch.setenv("DRPO_TIMEOUT_S", timeout_s)
    monkeypatch.delenv("DRPO_API_KEY", raising=False)
    if openai_key is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", openai_key)
    fresh_clients()
    methods.forget()
    yield
    fresh_clients()
    methods.forget()
