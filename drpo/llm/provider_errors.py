"""Provider faults: which ones the graph retries, their counts per run, clear messages.

Model clients make no retries of their own (registry ``max_retries=0``): every failed request
reaches LangGraph's ``RetryPolicy`` (graph/policies.py), which retries the transient ones with
backoff; each model's error hook (drpo/llm/model_hooks.py) counts each failed attempt by kind in the
active session's ``ProviderErrors``, for the run's report.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from langchain_core.exceptions import OutputParserException
from langgraph.types import default_retry_on
from pydantic import ValidationError

RETRY_STATUS = (408, 409, 429)
PARSE_ERRORS = (OutputParserException, ValidationError, ValueError)


def is_transient(exc: BaseException) -> bool:
    """Rate limits, 5xx, timeouts and connection errors: retried. 4xx (401, 404, ...): not."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUS or exc.status_code >= 500
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, Exception) and default_retry_on(exc)


def kind_of(exc: BaseException) -> str:
    """A short label: "HTTP 429", "HTTP 500", "timeout", "connection" or the class name."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return type(exc).__name__


def is_provider_error(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APIError)


def describe(exc: BaseException) -> str:
    """One line for a provider failure, naming the endpoint (never a key)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        where = exc.request.url.copy_with(query=None) if exc.request else "the model server"
        message = str(exc.message).removeprefix(f"Error code: {exc.status_code} - ")
        if exc.status_code == 404 and _completions(str(where)):
            message = (
                "the server has no /v1/completions, which a mode=completion spec calls (serve "
                "the model where it has one, e.g. vLLM or llama.cpp's server, or drop "
                f"mode=completion for a chat model) ({message})"
            )
        return f"HTTP {exc.status_code} from {where}: {message}"
    if isinstance(exc, openai.APIConnectionError):
        where = exc.request.url.copy_with(query=None) if exc.request else "the model server"
        cause: BaseException | None = exc
        while isinstance(cause, openai.APIError):  # down to the transport's own error
            cause = cause.__cause__ or cause.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        verb = "timed out" if isinstance(exc, openai.APITimeoutError) else "cannot be reached"
        return f"{where} {verb}{detail}"
    return f"{type(exc).__name__}: {exc}"


def _completions(url: str) -> bool:
    """A text-completions endpoint (mode=completion), not the chat one."""
    path = url.rstrip("/")
    return path.endswith("/completions") and not path.endswith("/chat/completions")


class ProviderErrors:
    """What one execution of a run counts (``Session.errors``): failed LLM requests by kind (each
    one was retried or ended the run; drpo/llm/model_hooks.py reports them), replies that were not
    answers and were re-sampled (by kind: "unparsable reply", "truncated reply", "refusal",
    "empty reply", "invalid tool arguments", "invalid reply"; drpo/llm/calls.py), and
    structured-output methods a server rejected while ``auto`` probed ("json_schema rejected")."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        """A failed model request; not faults: a budget or stop interrupt from the call gate,
        and replies that are not answers (counted by ``resampled``; some clients parse in
        the call)."""
        import openai
        from langgraph.errors import GraphInterrupt

        answers = (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError)
        if not isinstance(error, (*PARSE_ERRORS, *answers, GraphInterrupt, asyncio.CancelledError)):
            with self._lock:
                self.counts[kind_of(error)] += 1

    def resampled(self, kind: str) -> None:
        with self._lock:
            self.counts[kind or "unparsable reply"] += 1

    def rejected(self, method: str, error: str) -> None:
        """A method the server rejected: ``failed`` counted it as an HTTP error; it was a
        probe, not a fault."""
        with self._lock:
            if self.counts[error] > 0:
                self.counts[error] -= 1
            self.counts += Counter()  # drops zero counts
            self.counts[f"{method} rejected"] += 1

    def __str__(self) -> str:
        return ", ".join(f"{k} x{v}" for k, v in sorted(self.counts.items()))
