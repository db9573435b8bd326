"""Execute a table's runs concurrently, each a resumable thread (drpo/runtime/runner.py):
finished runs are skipped, unfinished ones resumed from their last checkpoint, new ones created;
a run that reuses an ICL set starts once the run that optimized it has finished. One
concurrency limit and one budget for all (drpo/reproduce/budget.py)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drpo.core.context import Context
from drpo.llm.session import BudgetReached, RunPaused
from drpo.reproduce.budget import Pool, Slots, spent
from drpo.reproduce.plan import PlannedRun, TablePlan
from drpo.runtime.runner import Run, execute, summary
from drpo.runtime.stopping import request_stop

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    run: str
    status: str  # finished | skipped (finished before) | budget | stopped | failed | blocked
    detail: str = ""
    calls: int = 0


def context_for(plan: TablePlan, run_dir: Path, prices: dict[str, list[float]]) -> Context:
    m = plan.models
    return Context(
        base_model=m["base"],
        optimizer_model=m["optimizer"],
        judge_model=m["judge"],
        selector_model=m["selector"],
        index_cache_dir=str(run_dir / "index_cache"),
        prices=dict(prices),
    )


async def status(run: Run) -> str:
    """ "new" (no run.json), "finished", or what summary() says of it."""
    if not run.exists():
        return "new"
    return str((await summary(run.reader()))["status"])


class Executor:
    def __init__(
        self,
        plan: TablePlan,
        run_dir: Path,
        pool: Pool,
        concurrency: int,
        prices: dict[str, list[float]],
        progress: Progress = _stderr,
    ) -> None:
        self.plan, self.run_dir, self.pool, self.prices = plan, run_dir, pool, prices
        self.slots = Slots(concurrency)
        self.progress = progress
        self.finished: dict[str, asyncio.Event] = {r.id: asyncio.Event() for r in plan.runs}
        self.outcomes: dict[str, Outcome] = {}
        self.waiting = [r.id for r in plan.runs]  # runs not yet started (for the shares)
        self._signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        self.running: set[str] = set()
        # a stop asked of one run (Ctrl-C, SIGTERM, its STOP file) stops them all: the signal
        # reaches the stop watcher installed last; the others get a STOP file, none starts
        self.stopping: str | None = None

    async def run_all(self) -> dict[str, Outcome]:
        await asyncio.gather(*(self._one(r) for r in self.plan.runs))
        for sig, handler in self._signals.items():  # each run's stop watcher swapped them
            signal.signal(sig, handler)
        return self.outcomes

    def _say(self, outcome: Outcome) -> None:
        self.outcomes[outcome.run] = outcome
        done = len(self.outcomes)
        extra = f": {outcome.detail}" if outcome.detail else ""
        self.progress(
            f"reproduce {self.plan.table}: run {outcome.run} {outcome.status} "
            f"({outcome.calls} model calls in all){extra} [{done}/{len(self.plan.runs)}]"
        )

    async def _one(self, planned: PlannedRun) -> None:
        run = Run(self.run_dir, planned.id)
        if planned.icl_from:
            await self.finished[planned.icl_from].wait()
            if self.outcomes[planned.icl_from].status not in ("finished", "skipped"):
                self.waiting.remove(planned.id)
                self._say(Outcome(planned.id, "blocked", f"needs {planned.icl_from} finished"))
                self.finished[planned.id].set()
                return
        if await status(run) == "finished":
            self.waiting.remove(planned.id)
            self._say(Outcome(planned.id, "skipped", "finished before", spent(run.dir).calls))
            self.finished[planned.id].set()
            return
        ready = sum(
            1
            for r in self.plan.runs
            if r.id in self.waiting and (r.icl_from is None or self.finished[r.icl_from].is_set())
        )
        share = await self.slots.take(ready)
        try:
            cap_calls, cap_usd = self.pool.grant(planned.id, self.waiting)
            self.waiting.remove(planned.id)
            if self.stopping:
                outcome = Outcome(planned.id, "stopped", f"not started ({self.stopping})")
            elif self.pool.share_is_empty(planned.id):
                outcome = Outcome(planned.id, "budget", "no budget left for it")
            else:
                outcome = await self._execute(run, planned, share, cap_calls, cap_usd)
        finally:
            await self.slots.give(share)
            self.pool.ended(planned.id, spent(run.dir))
        outcome.calls = spent(run.dir).calls
        self._say(outcome)
        self.finished[planned.id].set()

    async def _execute(
        self, run: Run, planned: PlannedRun, share: int, calls: int | None, usd: float | None
    ) -> Outcome:
        def progress(line: str) -> None:
            if line.startswith("stopping ("):  # graceful_stop's line: a stop was requested
                self._stop_all(planned.id)
            self.progress(f"  [{planned.id}] {line.strip()}")

        limits = {"max_concurrency": share, "max_calls": calls, "max_usd": usd}
        self.running.add(planned.id)
        try:
            if run.exists():
                async with run.writer():
                    _, context = run.load()
                    for key, value in limits.items():
                        setattr(context, key, value)
                    run.check_files(context.llm_cache)
                    run.save_context(context)
                    if self.stopping:
                        return Outcome(planned.id, "stopped", f"not resumed ({self.stopping})")
                    await execute(run, resume=True, progress=progress)
            else:
                context = context_for(self.plan, self.run_dir, self.prices)
                for key, value in limits.items():
                    setattr(context, key, value)
                extra = await self._icl_from(planned)
                run.check_files(context.llm_cache)
                async with run.writer():
                    run.create(planned.config, context, extra)
                    progress(f"created ({planned.row}); caps {_caps(context)}")
                    if self.stopping:
                        return Outcome(planned.id, "stopped", f"not started ({self.stopping})")
                    await execute(run, resume=False, progress=progress)
        except BudgetReached as exc:
            return Outcome(planned.id, "budget", str(exc).splitlines()[0])
        except RunPaused as exc:
            self._stop_all(planned.id)
            return Outcome(planned.id, "stopped", str(exc).splitlines()[0])
        except Exception as exc:  # a failed run is saved; the next invocation resumes it
            return Outcome(
                planned.id, "failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            )
        finally:
            self.running.discard(planned.id)
        return Outcome(planned.id, "finished")

    def _stop_all(self, run_id: str) -> None:
        """A stop asked of one run (the signal reaches the stop watcher installed last): ask
        the others too (their STOP files), and start none."""
        if self.stopping is None:
            self.stopping = f"a stop was requested of {run_id}"
            for other in self.running - {run_id}:
                if (self.run_dir / other).is_dir():
                    request_stop(self.run_dir / other)

    async def _icl_from(self, planned: PlannedRun) -> dict[str, Any] | None:
        """run.json's ``icl_from`` (as `drpo optimize --icl-from RUN` records it)."""
        if planned.icl_from is None:
            return None
        source = await summary(Run(self.run_dir, planned.icl_from).reader())
        examples = [
            {"query": e["query"], "response": e["response"]} for e in source["icl_examples"]
        ]
        return {"icl_from": {"run_id": planned.icl_from, "examples": examples}}


def _caps(context: Context) -> str:
    parts = [f"{context.max_concurrency} tasks in flight"]
    if context.max_calls is not None:
        parts.append(f"at most {context.max_calls} calls in all")
    if context.max_usd is not None:
        parts.append(f"at most ${context.max_usd:.4f} in all")
    return ", ".join(parts)


def outcomes_json(outcomes: dict[str, Outcome]) -> dict[str, Any]:
    return {run: asdict(o) for run, o in outcomes.items()}
