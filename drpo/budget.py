"""Budgets, usage per role, and the per-run session that the model hooks consult.

Every model built by the registry carries two LangChain hooks: a ``ModelCache`` (drpo/cache.py)
and the ``CALL_GATE`` below, a ``BaseRateLimiter`` that LangChain awaits right before each real
model call (never on a cache hit). While ``execute()`` runs, a ``Session`` is active in a
context variable (LangGraph copies it into every task): the gate counts the call for its role,
applies the role's requests/s limit (LangChain's ``InMemoryRateLimiter``) and, once the run's
budget is spent, stops the task with LangGraph's ``interrupt()``. The other tasks of the
superstep finish, so the run stops at a superstep boundary and ``drpo resume`` continues it.
Outside a session (tests of single nodes, ``langgraph dev``) the hooks do nothing.

Usage per role (model calls, cache hits, tokens from the reply's usage metadata; llama.cpp
reports the tokenizer's counts) is kept in ``RUN_DIR/<id>/usage.jsonl`` across processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from langchain_core.rate_limiters import BaseRateLimiter, InMemoryRateLimiter
from langgraph.types import interrupt

from drpo.config import Context, RunConfig
from evals.cost import expected_calls, paper_a5

if TYPE_CHECKING:
    from drpo.cache import LLMCache

ROLES = ("selector", "optimizer", "base", "judge")
# Which role a node's model calls belong to (custom judges run inside the "judge" node).
ROLE_OF_NODE = {
    "select_aspects": "selector",
    "transition": "optimizer",
    "generate": "base",
    "judge": "judge",
}
COUNTERS = ("calls", "cache_hits", "input_tokens", "output_tokens")
USAGE_FILE = "usage.jsonl"
BUDGET_INTERRUPT = "budget"  # the ``kind`` of the interrupt value the gate raises


class BudgetReached(RuntimeError):
    """The run stopped cleanly because its call or token budget is spent; it is resumable."""


def is_budget_stop(value: Any) -> bool:
    """Whether an interrupt's value is the call gate's budget stop."""
    return isinstance(value, dict) and value.get("kind") == BUDGET_INTERRUPT


def current_role() -> str:
    """The role of the model call being made, from the LangGraph node running it."""
    from langgraph.config import get_config

    try:
        node = get_config().get("metadata", {}).get("langgraph_node", "")
    except RuntimeError:  # not inside a runnable
        return "other"
    return ROLE_OF_NODE.get(str(node), "other")


class Usage:
    """Counters per role. Each change is appended to a JSON-lines file (one small write, no
    rewrite), so the totals survive a kill and a resume; a torn last line is ignored."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.roles: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self._count(entry.pop("role"), entry)

    def _count(self, role: str, counts: dict[str, int]) -> None:
        row = self.roles.setdefault(role, dict.fromkeys(COUNTERS, 0))
        for key, value in counts.items():
            row[key] = row.get(key, 0) + value

    def add(self, role: str, **counts: int) -> None:
        with self._lock:
            self._count(role, counts)
            if self.path is not None:
                if self._file is None:
                    self._file = self.path.open("a", encoding="utf-8", buffering=1)
                self._file.write(json.dumps({"role": role, **counts}) + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def total(self, counter: str) -> int:
        with self._lock:
            return sum(row.get(counter, 0) for row in self.roles.values())

    def describe(self) -> str:
        rows = self.as_dict()
        if not rows:
            return "none"
        return ", ".join(f"{r} {c['calls']} ({c['cache_hits']})" for r, c in rows.items())

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {role: dict(row) for role, row in sorted(self.roles.items())}


def read_usage(run_dir: Path) -> dict[str, dict[str, int]]:
    """A run's usage per role (empty before its first model call)."""
    return Usage(run_dir / USAGE_FILE).as_dict()


@dataclass
class Budget:
    max_calls: int | None = None
    max_tokens: int | None = None

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
    cache: LLMCache | None = None
    requests_per_second: float | None = None
    stopped: str | None = None  # why the gate stopped the run
    _limiters: dict[str, InMemoryRateLimiter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, role: str) -> InMemoryRateLimiter | None:
        """Count a model call that is about to start, or stop its task if the budget is spent.
        Returns the role's rate limiter (None: no limit)."""
        with self._lock:
            reason = self.budget.spent(self.usage)
            if reason is None:
                self.usage.add(role, calls=1)
            else:
                self.stopped = reason
        if reason is not None:
            # raises GraphInterrupt; the value tells it apart from other interrupts
            interrupt({"kind": BUDGET_INTERRUPT, "reason": reason})
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

    @asynccontextmanager
    async def active(self) -> AsyncIterator[Session]:
        """Make this the session of the current task (LangGraph tasks inherit it)."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)
            self.usage.close()
            if self.cache is not None:
                self.cache.close()


_ACTIVE: ContextVar[Session | None] = ContextVar("drpo_session", default=None)


def active_session() -> Session | None:
    return _ACTIVE.get()


def cache_file(root: Path, where: str | None) -> Path:
    """The LLM-call cache file of a context's ``llm_cache`` setting (not "off")."""
    return Path(where) if where else root / "llm_cache.sqlite"


def open_session(run_dir: Path, root: Path, context: Context) -> Session:
    """The session of one execution of a run: its usage so far, budget, cache and limits.
    ``context.llm_cache``: None -> ROOT/llm_cache.sqlite (shared by the runs of ROOT),
    "off" -> no cache, else a path (e.g. shared by several run dirs)."""
    from drpo.cache import LLMCache

    where = context.llm_cache
    cache = None if where == "off" else LLMCache(cache_file(root, where))
    return Session(
        usage=Usage(run_dir / USAGE_FILE),
        budget=Budget(context.max_calls, context.max_tokens),
        cache=cache,
        requests_per_second=context.requests_per_second,
    )


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


def estimate(config: RunConfig, n_icl: int) -> dict[str, dict[str, int]]:
    """The dry-run estimate per role: calls as this implementation makes them, the paper's A.5
    count, and the most output tokens those calls may produce (input tokens depend on replies)."""
    calls = expected_calls(config, n_icl)
    icl, sp = config.icl, config.system_prompt
    a5 = paper_a5(sp.W, sp.M, sp.D, n_icl, icl.W, icl.M, icl.D)
    sampling = config.sampling
    out: dict[str, dict[str, int]] = {}
    for role in ROLES:
        limit = sampling.base_max_tokens if role == "base" else sampling.json_max_tokens
        out[role] = {
            "calls": calls[role],
            "paper_a5": a5[role],
            "max_output_tokens": calls[role] * limit,
        }
    return out


def format_estimate(rows: dict[str, dict[str, Any]]) -> str:
    keys = ("calls", "paper_a5", "max_output_tokens")
    table = {**rows, "total": {k: sum(r[k] for r in rows.values()) for k in keys}}
    lines = [f"{'role':<10} {'calls':>7} {'paper A.5':>10} {'max output tokens':>18}"]
    for role, row in table.items():
        calls, a5, out = (row[k] for k in keys)
        lines.append(f"{role:<10} {calls:>7} {a5:>10} {out:>18}")
    lines.append(
        "Assumes no cache hits, no dropped duplicates and no parse retries; output tokens are "
        "bounded by the sampling limits; input tokens are known only once prompts are built."
    )
    return "\n".join(lines)
