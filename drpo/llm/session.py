"""Budgets, usage per role, and the per-run session that the model hooks consult.

Every model built by the registry carries two LangChain hooks: a ``ModelCache``
(drpo/llm/model_hooks.py) and the ``CALL_GATE`` below, a ``BaseRateLimiter`` that LangChain awaits
right before each real model call (never on a cache hit). While ``execute()`` runs, a ``Session`` is
active in a context variable (LangGraph copies it into every task): the gate counts the call for its
role, applies the role's requests/s limit (LangChain's ``InMemoryRateLimiter``) and, once the run's
budget is spent, stops the task with LangGraph's ``interrupt()``. The other tasks of the superstep
finish, so the run stops at a superstep boundary and ``drpo resume`` continues it. Outside a session
(tests of single nodes, ``langgraph dev``) the hooks do nothing.

Usage per role (model calls, cache hits, tokens from the reply's usage metadata; llama.cpp
reports the tokenizer's counts; dollars in micro-dollars at the role's price,
drpo/llm/prices.py) is kept in ``RUN_DIR/<id>/usage.jsonl`` across processes.

``--max-usd`` is a hard cap: before each call the gate adds the call's worst case (its prompt at
~3 characters per token, its output at the token cap) to what was spent and what calls in flight
may still cost, and stops the run when the sum would pass the cap. A graceful stop
(drpo/runtime/stopping.py) uses the same gate: once requested, no model call starts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.rate_limiters import BaseRateLimiter, InMemoryRateLimiter
from langgraph.types import interrupt

from drpo.llm.prices import Price, cost
from drpo.llm.provider_errors import ProviderErrors
from drpo.llm.usage import Usage


class CallStore(Protocol):
    """Where the model hooks keep replies (drpo/runtime/cache.py: the SQLite LLM-call cache)."""

    def get(self, key: str) -> str | None: ...
    def may_hold(self, key: str) -> bool: ...  # False: a miss, known without reading the file
    def put(self, key: str, model: str, value: str) -> None: ...
    def put_later(self, key: str, model: str, value: str) -> None: ...  # written behind
    def clear(self) -> None: ...
    def close(self) -> None: ...


# Which role a node's model calls belong to (custom judges run inside the "judge" node).
ROLE_OF_NODE = {
    "select_aspects": "selector",
    # the only model calls of these are aspect selections of queries selected when they come
    # (validation rungs, confirmation looks, --patience checks, a fork's new levels):
    # nodes/select_aspects.py
    "sample_query": "selector",
    "prepare_check": "selector",
    "prepare_validation": "selector",
    "prepare_confirmation": "selector",
    "transition": "optimizer",
    "generate": "base",
    "judge": "judge",
}
BUDGET_INTERRUPT = "budget"  # the ``kind`` of the interrupt value the gate raises
STOP_INTERRUPT = "stop"  # ... when a stop was requested (signal, STOP file, inspector)
CHARS_PER_TOKEN = 3  # a prompt's worst-case token count, for the dollar cap (English: ~4)


class RunPaused(RuntimeError):
    """The run stopped cleanly at a superstep boundary; ``drpo resume`` continues it."""

    exit_code = 3


class BudgetReached(RunPaused):
    """The run's call, token or dollar budget is spent."""

    exit_code = 3


class StopRequested(RunPaused):
    """A stop was asked for (SIGINT/SIGTERM, a STOP file in the run dir, the inspector)."""

    exit_code = 4


def is_budget_stop(value: Any) -> bool:
    """Whether an interrupt's value is the call gate's stop (budget or request), not a question."""
    return isinstance(value, dict) and value.get("kind") in (BUDGET_INTERRUPT, STOP_INTERRUPT)


@dataclass
class _Reservation:
    amount: float
    released: bool = False


# set by drpo.llm.calls before each call (prompt characters, token cap); read by the gate
_EXPECTED: ContextVar[tuple[int, int | None] | None] = ContextVar("drpo_expected", default=None)
_RESERVATION: ContextVar[_Reservation | None] = ContextVar("drpo_reservation", default=None)


def expect_call(prompt: str, max_tokens: int | None) -> None:
    """Announce the size of the model call about to be made (for the dollar cap)."""
    _EXPECTED.set((len(prompt), max_tokens))


def current_role() -> str:
    """The role of the model call being made, from the LangGraph node running it."""
    from langgraph.config import get_config

    try:
        node = get_config().get("metadata", {}).get("langgraph_node", "")
    except RuntimeError:  # not inside a runnable
        return "other"
    return ROLE_OF_NODE.get(str(node), "other")


@dataclass
class Budget:
    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None

    def spent(self, usage: Usage) -> str | None:
        """Why no new call may start, or None."""
        calls = usage.total("calls")
        if self.max_calls is not None and calls >= self.max_calls:
            return f"{calls} model calls made (--max-calls {self.max_calls})"
        tokens = usage.total("input_tokens") + usage.total("output_tokens")
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"{tokens} tokens used (--max-tokens {self.max_tokens})"
        return None


@dataclass
class Session:
    """What the model hooks use while a run executes."""

    usage: Usage
    budget: Budget = field(default_factory=Budget)
    cache: CallStore | None = None
    requests_per_second: float | None = None
    prices: dict[str, Price | None] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)  # default token cap per role
    stopped: str | None = None  # why the gate stopped the run
    stop_request: str | None = None  # a graceful stop asked for (drpo/runtime/stopping.py)
    errors: ProviderErrors = field(default_factory=ProviderErrors)  # failed requests, re-samples
    _reserved: float = 0.0  # worst-case dollars of the calls in flight
    _limiters: dict[str, InMemoryRateLimiter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_stop(self, reason: str) -> None:
        with self._lock:
            self.stop_request = self.stop_request or reason

    def spent_usd(self) -> float:
        return self.usage.total("micro_usd") / 1_000_000

    def _worst_case(self, role: str) -> float:
        chars, cap = _EXPECTED.get() or (0, None)
        return cost(self.prices.get(role), chars / CHARS_PER_TOKEN, cap or self.caps.get(role, 0))

    def _why_not(self, role: str) -> tuple[str, str] | None:
        if self.stop_request is not None:
            return STOP_INTERRUPT, self.stop_request
        if reason := self.budget.spent(self.usage):
            return BUDGET_INTERRUPT, reason
        cap = self.budget.max_usd
        if cap is not None:
            spent, call = self.spent_usd(), self._worst_case(role)
            if spent + self._reserved + call > cap:
                return BUDGET_INTERRUPT, (
                    f"${spent:.4f} spent (${self._reserved:.4f} more in flight); the next {role} "
                    f"call may cost up to ${call:.4f} (--max-usd {cap:g})"
                )
        return None

    def admit(self, role: str) -> InMemoryRateLimiter | None:
        """Count a model call that is about to start, or stop its task if the budget is spent
        or a stop was requested. Returns the role's rate limiter (None: no limit)."""
        with self._lock:
            why = self._why_not(role)
            if why is None:
                self.usage.add(role, calls=1)
                self._reserve(role)
            else:
                self.stopped = why[1]
        if why is not None:
            # raises GraphInterrupt; the value tells it apart from other interrupts
            interrupt({"kind": why[0], "reason": why[1]})
            self.usage.add(role, calls=1)  # resumed with Command(resume=...): go on
        if not self.requests_per_second:
            return None
        with self._lock:
            if role not in self._limiters:
                self._limiters[role] = InMemoryRateLimiter(
                    requests_per_second=self.requests_per_second,
                    check_every_n_seconds=min(0.05, 0.5 / self.requests_per_second),
                    max_bucket_size=1,
                )
            return self._limiters[role]

    def _reserve(self, role: str) -> None:
        if self.budget.max_usd is not None:
            held = _Reservation(self._worst_case(role))
            self._reserved += held.amount
            _RESERVATION.set(held)

    def release(self) -> None:
        """The current call finished (or failed): its worst case is no longer in flight."""
        held = _RESERVATION.get()
        with self._lock:
            if held is not None and not held.released:
                held.released = True
                self._reserved = max(0.0, self._reserved - held.amount)

    def charge(self, role: str, tokens: dict[str, int]) -> None:
        """Record a finished call's tokens and dollars."""
        price = self.prices.get(role)
        micro = round(cost(price, tokens["input_tokens"], tokens["output_tokens"]) * 1e6)
        self.usage.add(role, **tokens, micro_usd=micro)
        self.release()

    @asynccontextmanager
    async def active(self) -> AsyncIterator[Session]:
        """Make this the session of the current task (LangGraph tasks inherit it)."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)
            self.usage.close()
            if self.cache is not None:  # writes what is queued: not on the event loop
                await asyncio.to_thread(self.cache.close)


_ACTIVE: ContextVar[Session | None] = ContextVar("drpo_session", default=None)


def active_session() -> Session | None:
    return _ACTIVE.get()


class CallGate(BaseRateLimiter):
    """LangChain's rate-limiter hook, awaited before every real model call (not on cache hits):
    budget check, call count per role, and the role's requests/s limit."""

    def acquire(self, *, blocking: bool = True) -> bool:
        session = _ACTIVE.get()
        if session is not None and (limiter := session.admit(current_role())) is not None:
            return limiter.acquire(blocking=blocking)
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        session = _ACTIVE.get()
        if session is not None and (limiter := session.admit(current_role())) is not None:
            return await limiter.aacquire(blocking=blocking)
        return True


CALL_GATE = CallGate()
