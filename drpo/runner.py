"""Run, resume and read DRPO runs: the graph compiled with a SQLite checkpointer per run.

Layout: RUN_DIR/<run-id>/{run.json, checkpoints.sqlite, result.json}; RUN_DIR/store.sqlite holds
the LangGraph store shared by the runs of RUN_DIR (the aspect-selection cache lives there).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from drpo.budget import BudgetReached, open_session
from drpo.config import Context, RunConfig
from drpo.persistence import check_url, open_persistence, redact
from drpo.provider_errors import ProviderErrors
from drpo.summary import meta_of, summarize_run
from graph import builder

# 2: one graph whose levels are root-namespace checkpoints, level records in the store;
# 1 (no "layout" in run.json): two nested stage subgraphs, records in the state
LAYOUT = 2


class RunError(ValueError):
    """A run that cannot be started, resumed or read as asked (bad id, existing run, ...)."""


class Run:
    def __init__(self, run_dir: str | Path, run_id: str, checkpointer: str | None = None) -> None:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise RunError(f"invalid run id {run_id!r}")
        check_url(checkpointer)
        self.root = Path(run_dir)
        self.id = run_id
        self.dir = self.root / run_id
        # a postgresql:// URL, else SQLite in the run dir; resume reads it back from run.json
        # (without its password: libpq takes PGPASSWORD or ~/.pgpass)
        self.checkpointer = checkpointer

    @property
    def meta_file(self) -> Path:
        return self.dir / "run.json"

    @property
    def thread(self) -> RunnableConfig:
        return {"configurable": {"thread_id": self.id}}

    def exists(self) -> bool:
        return self.meta_file.exists()

    def create(
        self, config: RunConfig, context: Context, extra: dict[str, Any] | None = None
    ) -> None:
        if self.exists():
            raise RunError(
                f"run {self.id!r} already exists in {self.root}; use `drpo resume {self.id}`"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "run_id": self.id,
            "created": time.time(),
            "config": config.model_dump(),
            "context": asdict(context),
            "checkpointer": redact(self.checkpointer) if self.checkpointer else None,
            "layout": LAYOUT,
            **(extra or {}),
        }
        tmp = self.meta_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, self.meta_file)

    def save_context(self, context: Context) -> None:
        """Record changed model specs (e.g. a resume with another judge)."""
        meta = json.loads(self.meta_file.read_text())
        meta["context"] = asdict(context)
        tmp = self.meta_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, self.meta_file)

    def load(self) -> tuple[RunConfig, Context]:
        if not self.exists():
            raise RunError(f"no run {self.id!r} in {self.root}")
        meta = json.loads(self.meta_file.read_text())
        if meta.get("layout") != LAYOUT:
            raise RunError(
                f"run {self.id!r} was made by graph layout {meta.get('layout', 1)} (nested stage "
                f"subgraphs); this drpo reads layout {LAYOUT} (one level-granular graph): "
                "start a new run with drpo optimize"
            )
        return RunConfig.model_validate(meta["config"]), Context(**meta["context"])

    def meta(self) -> dict[str, Any]:
        return meta_of(self.meta_file)

    def input(self, config: RunConfig) -> dict[str, Any]:
        """The graph input of a new run: its config and, with --icl-from, the reused ICL set."""
        payload: dict[str, Any] = {"config": config.model_dump()}
        icl_from = self.meta().get("icl_from")
        if icl_from:
            payload["icl_examples"] = icl_from["examples"]
        return payload

    @asynccontextmanager
    async def graph(self) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
        """The graph compiled with this run's checkpointer and the run dir's shared store."""
        url = self.checkpointer
        if url is None and self.exists():
            url = json.loads(self.meta_file.read_text()).get("checkpointer")
        async with open_persistence(self.dir, self.root, url) as (saver, store):
            yield builder.compile(checkpointer=saver, store=store)

    @asynccontextmanager
    async def counting(self, errors: ProviderErrors) -> AsyncIterator[None]:
        """Add this process's provider errors to run.json's totals, even when the run fails."""
        try:
            yield
        finally:
            if errors.counts:
                meta = json.loads(self.meta_file.read_text())
                total = Counter(meta.get("provider_errors", {})) + errors.counts
                meta["provider_errors"] = dict(sorted(total.items()))
                tmp = self.meta_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(meta, indent=2))
                os.replace(tmp, self.meta_file)

    async def has_checkpoints(self) -> bool:
        """Whether the checkpointer already holds this thread (a shared Postgres database)."""
        async with self.graph() as g:
            return bool((await g.aget_state(self.thread)).values)


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def execute(
    run: Run, resume: bool, progress: Progress = _stderr, command: Command[Any] | None = None
) -> dict[str, Any]:
    """Start or continue the run (``command``: answer a pending interrupt); prints progress;
    returns the summary of the final state."""
    config, context = run.load()
    calls: Counter[str] = Counter()
    errors = ProviderErrors()  # failed provider requests (retried by RetryPolicy or fatal)
    started = time.monotonic()
    session = open_session(run.dir, run.root, context)  # cache, budget, usage, requests/s
    async with run.graph() as g, run.counting(errors), session.active():
        snapshot = await g.aget_state(run.thread)
        if resume and not snapshot.next and snapshot.values:
            progress(f"run {run.id} has already finished")
            return await summary(run)
        payload: Any = None if resume and snapshot.values else run.input(config)
        if command is not None:
            payload = command
        async for update in g.astream(
            payload,
            # max_concurrency: LangGraph's bound on the tasks of a superstep (each one role's)
            {**run.thread, "callbacks": [errors], "max_concurrency": context.max_concurrency},
            context=context,
            stream_mode="updates",
            durability="sync",
        ):
            for node, values in cast(dict[str, Any], update).items():
                if not isinstance(values, dict):
                    continue
                calls.update(values.get("calls", {}))
                if node == "prune_beam":
                    _report(values, calls, time.monotonic() - started, progress)
                    if errors.counts:
                        progress(f"  provider errors so far (retried): {errors}")
    progress(f"model calls (cache hits) per role: {session.usage.describe()}")
    if session.stopped:
        raise BudgetReached(
            f"budget reached: {session.stopped}; the run is saved at a superstep boundary; "
            f"continue it with a larger budget: drpo resume {run.id} --run-dir {run.root} "
            "--max-calls N (or --max-tokens N)"
        )
    result = await summary(run)
    (run.dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _report(
    values: dict[str, Any], calls: Counter[str], elapsed: float, progress: Progress
) -> None:
    closed, beam = values.get("closed"), values.get("beam") or {}
    if not closed:
        return
    rewards = [members[0]["reward"] for members in beam.values() if members]
    best = f"{max(rewards):.2f}" if rewards else "-"
    made = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    progress(
        f"[{elapsed:6.1f}s] {closed['stage']} level {closed['level']}: {len(beam)} track(s), "
        f"best reward {best}; calls so far: {made}"
    )


async def summary(run: Run) -> dict[str, Any]:
    """What `drpo show` prints: best prompt, ICL examples, levels with beams, calls per role."""
    async with run.graph() as g:
        return await summarize_run(g, run.id, run.meta(), run.dir)
