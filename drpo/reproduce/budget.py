"""One budget and one concurrency limit for a whole table.

Budget (``--max-calls`` or ``--max-usd``): the evaluation's calls are reserved first, at their
upper bound (an answer and up to ``retries`` judge attempts per method and item, at the dry
run's dollars per call); the rest is shared by the optimize runs. A run is granted, when it
starts or resumes, a cap on its own total (``Context.max_calls`` / ``max_usd``, enforced by the
run's call gate, drpo/llm/session.py) of what it spent so far plus a share of what is free:
the free budget (the total, less the caps of the runs executing and the spending of the others)
split in proportion to the dry run's estimate of the calls each run still needs. A run that
ends gives back what it did not spend. So the runs' spending never passes its caps, and the
caps together with the others' spending never pass the budget.

Concurrency (``--concurrency N``): at most N LangGraph tasks (model calls) in flight across the
runs: each run is granted a share of the free slots (``Context.max_concurrency``) and holds it
until it ends; the evaluation then runs with N.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drpo.core.config import RunConfig, Sampling
from drpo.core.context import Context
from drpo.core.data import load_icl
from drpo.llm.estimate import calls_usd, estimate, input_tokens_per_call
from drpo.llm.prices import Price
from drpo.llm.usage import USAGE_FILE, Usage


@dataclass
class Cost:
    calls: int = 0
    usd: float | None = 0.0  # None: a model without a price

    def __add__(self, other: Cost) -> Cost:
        usd = None if self.usd is None or other.usd is None else self.usd + other.usd
        return Cost(self.calls + other.calls, usd)


def run_estimate(
    config: RunConfig, context: Context, reuses_icl: bool = False
) -> tuple[Cost, dict[str, dict[str, Any]]]:
    """A run's dry-run estimate (drpo/llm/estimate.py): its total and its rows per role.
    ``reuses_icl``: the run takes another run's optimized ICL set and skips stage 1 (the set
    has as many examples as the base set it was optimized from)."""
    icl = load_icl(config.icl_path)[: config.icl.n]
    rows = estimate(config, icl, context, optimize_icl=not reuses_icl)
    unpriced = any(r["usd"] is None for r in rows.values())
    usd = None if unpriced else sum(r["usd"] for r in rows.values())
    return Cost(sum(r["calls"] for r in rows.values()), usd), rows


def eval_estimate(
    config: RunConfig,
    methods: int,
    items: int,
    retries: int,
    prices: dict[str, Price | None],
    max_tokens: tuple[int, int] = (Sampling().base_max_tokens, Sampling().json_max_tokens),
) -> tuple[Cost, dict[str, dict[str, Any]]]:
    """The evaluation's upper bound: an answer per method and item, and up to ``retries`` judge
    attempts each (``prices``: of "base" and "judge", the eval judge's)."""
    per_call = input_tokens_per_call(config, load_icl(config.icl_path)[: config.icl.n])
    n = methods * items
    rows: dict[str, dict[str, Any]] = {}
    for role, calls, cap in (
        ("eval base", n, max_tokens[0]),
        ("eval judge", n * retries, max_tokens[1]),
    ):
        key = role.split()[1]
        sized = config.model_copy(deep=True)
        sized.sampling.base_max_tokens = sized.sampling.json_max_tokens = cap
        usd = calls_usd(sized, per_call, {key: calls}, prices)
        rows[role] = {
            "calls": calls,
            "paper_a5": 0,
            "max_output_tokens": calls * cap,
            "input_tokens": calls * per_call[key],
            "usd": None if usd is None else round(usd, 4),
        }
    usd_total = (
        None
        if any(r["usd"] is None for r in rows.values())
        else (sum(r["usd"] for r in rows.values()))
    )
    return Cost(sum(r["calls"] for r in rows.values()), usd_total), rows


def spent(run_dir: Path) -> Cost:
    """What a run has spent so far (its usage.jsonl; nothing if it never ran)."""
    path = run_dir / USAGE_FILE
    if not path.exists():
        return Cost()
    usage = Usage(path)
    return Cost(usage.total("calls"), usage.total("micro_usd") / 1e6)


@dataclass
class Pool:
    """The table's budget shared by its runs (see the module docstring); None: no limit."""

    max_calls: int | None
    max_usd: float | None
    reserved: Cost  # the evaluation's upper bound, set aside first
    needs: dict[str, Cost]  # per run: the dry run's estimate of its whole cost
    spent: dict[str, Cost]  # per run not executing: what it spent
    caps: dict[str, tuple[int | None, float | None]] = field(default_factory=dict)  # executing

    def _free(self) -> tuple[float, float]:
        calls = float(self.max_calls - self.reserved.calls) if self.max_calls is not None else 0
        usd = float(self.max_usd - (self.reserved.usd or 0)) if self.max_usd is not None else 0.0
        for cap_calls, cap_usd in self.caps.values():
            calls -= cap_calls or 0
            usd -= cap_usd or 0
        for run, cost in self.spent.items():
            if run not in self.caps:
                calls -= cost.calls
                usd -= cost.usd or 0
        return calls, usd

    def grant(self, run: str, waiting: list[str]) -> tuple[int | None, float | None]:
        """The caps of ``run`` as it starts: its spending plus its share of the free budget
        (``waiting``: the runs still to start, ``run`` among them)."""
        free_calls, free_usd = self._free()
        left = {r: max(1, self.needs[r].calls - self.spent[r].calls) for r in waiting}
        weight = left[run] / sum(left.values())
        have = self.spent[run]
        calls = have.calls + math.floor(max(0.0, free_calls) * weight)
        usd = (have.usd or 0) + max(0.0, free_usd) * weight
        cap = (
            calls if self.max_calls is not None else None,
            usd if self.max_usd is not None else None,
        )
        self.caps[run] = cap
        return cap

    def share_is_empty(self, run: str) -> bool:
        cap_calls, cap_usd = self.caps[run]
        have = self.spent[run]
        return (cap_calls is not None and cap_calls <= have.calls) or (
            cap_usd is not None and cap_usd <= (have.usd or 0)
        )

    def ended(self, run: str, spent_now: Cost) -> None:
        """A run stopped executing (done, paused, failed): its unspent cap is free again."""
        self.caps.pop(run, None)
        self.spent[run] = spent_now

    def too_small(self) -> str | None:
        """Why the budget cannot even pay for the evaluation, or None."""
        if self.max_calls is not None and self.max_calls < self.reserved.calls:
            return (
                f"--max-calls {self.max_calls} is too small: the evaluation alone may make "
                f"up to {self.reserved.calls} calls; give at least that plus the runs' calls"
            )
        if self.max_usd is not None and self.max_usd < (self.reserved.usd or 0):
            return (
                f"--max-usd {self.max_usd:g} is too small: the evaluation alone may cost up "
                f"to ${self.reserved.usd:.2f}"
            )
        return None


class Slots:
    """At most ``total`` tasks in flight across the runs; each run holds its share."""

    def __init__(self, total: int) -> None:
        self.total = self.free = total
        self._changed = asyncio.Condition()

    async def take(self, ready: int) -> int:
        """Wait for a free slot, then take a share of the free ones (``ready``: runs able to
        start now, this one among them)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.free > 0)
            share = max(1, self.free // max(1, ready))
            self.free -= share
            return share

    async def give(self, share: int) -> None:
        async with self._changed:
            self.free += share
            self._changed.notify_all()
