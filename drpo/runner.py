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
from langgraph.types import Command, StateSnapshot

from drpo.budget import is_budget_stop, open_session, read_usage
from drpo.config import Context, RunConfig
from drpo.persistence import check_url, open_persistence, redact
from drpo.provider_errors import ProviderErrors
from drpo.run_record import provider_facts, structured_methods
from drpo.stopping import graceful_stop, paused_error
from graph import builder


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

    def create(self, config: RunConfig, context: Context) -> None:
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
        return RunConfig.model_validate(meta["config"]), Context(**meta["context"])

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
    session = open_session(run.dir, run.root, context, config)  # cache, budgets, prices, rps
    async with (
        run.graph() as g,
        run.counting(errors),
        session.active(),
        structured_methods(run.meta_file, context),  # recorded per model: no re-probing
        graceful_stop(run.dir, session, progress),  # SIGINT/SIGTERM, RUN_DIR/<id>/STOP
    ):
        snapshot = await g.aget_state(run.thread)
        if resume and not snapshot.next and snapshot.values:
            progress(f"run {run.id} has already finished")
            return await summary(run)
        payload: Any = None if resume and snapshot.values else {"config": config.model_dump()}
        if command is not None:
            payload = command
        async for namespace, update in g.astream(
            payload,
            # max_concurrency: LangGraph's bound on the tasks of a superstep (each one role's)
            {**run.thread, "callbacks": [errors], "max_concurrency": context.max_concurrency},
            context=context,
            stream_mode="updates",
            subgraphs=True,
            durability="sync",
        ):
            if not namespace:
                continue
            for node, values in cast(dict[str, Any], update).items():
                if not isinstance(values, dict):
                    continue
                calls.update(values.get("calls", {}))
                if node == "prune_beam":
                    _report(values, calls, time.monotonic() - started, progress)
                    if errors.counts:
                        progress(f"  provider errors so far (retried): {errors}")
    progress(f"model calls (cache hits) per role: {session.usage.describe()}")
    if session.stopped:  # budget spent or stop requested: saved at a superstep boundary
        raise paused_error(run.id, run.root, session, await summary(run))
    result = await summary(run)
    (run.dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _report(
    values: dict[str, Any], calls: Counter[str], elapsed: float, progress: Progress
) -> None:
    records = values.get("levels", [])
    if not records:
        return
    rewards = [r["best_reward"] for r in records if r["best_reward"] is not None]
    stage, level = records[0]["stage"], records[0]["level"]
    best = f"{max(rewards):.2f}" if rewards else "-"
    made = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    progress(
        f"[{elapsed:6.1f}s] {stage} level {level}: {len(records)} track(s), "
        f"best reward {best}; calls so far: {made}"
    )


async def summary(run: Run) -> dict[str, Any]:
    """What `drpo show` prints: best prompt, ICL examples, reward by level, calls per role."""
    async with run.graph() as g:
        snapshot = await g.aget_state(run.thread, subgraphs=True)
    values: dict[str, Any] = dict(snapshot.values)
    calls = Counter(values.get("calls", {}))
    stage_values: dict[str, Any] = {}
    pending = [  # approval gate (a budget stop is an interrupt too, not one to answer)
        i.value for task in snapshot.tasks for i in task.interrupts if not is_budget_stop(i.value)
    ]
    for task in snapshot.tasks:  # a stage still in progress
        if isinstance(task.state, StateSnapshot):
            stage_values = dict(task.state.values)
            calls.update(stage_values.get("calls", {}))
    icl_levels = values.get("icl_levels") or (
        stage_values.get("levels", []) if stage_values.get("stage") == "icl" else []
    )
    levels = values.get("levels") or (
        stage_values.get("levels", []) if stage_values.get("stage") == "system_prompt" else []
    )
    beam = stage_values.get("beam", {}).get("system_prompt", [])
    best_prompt = values.get("best_system_prompt") or (
        beam[0]["candidate"]["text"] if beam else None
    )
    return {
        "run_id": run.id,
        "status": "finished"
        if values and not snapshot.next
        else ("waiting for approval" if pending else "in progress" if values else "not started"),
        "pending": pending,
        "next": list(snapshot.next),
        "best_system_prompt": best_prompt,
        "best_reward": values.get("best_reward"),
        "icl_examples": values.get("icl_examples", []),
        "levels": [_level_row(r) for r in levels],
        "icl_levels": _icl_rows(icl_levels),
        "calls": dict(sorted(calls.items())),
        "usage": read_usage(run.dir),  # model calls made, cache hits, tokens per role
        "provider_errors": json.loads(run.meta_file.read_text()).get("provider_errors", {})
        if run.exists()
        else {},
        "seed_order": values.get("seed_order", []),
        **provider_facts(run.dir),  # spent_usd, structured_output (method per model)
        "records": {"system_prompt": levels, "icl": icl_levels},
    }


def _level_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "level": record["level"],
        "best_reward": record["best_reward"],
        "queries": record["queries"],
        "candidates": len(record["candidates"]),
        "dropped_duplicates": record["dropped_duplicates"],
    }


def _icl_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stage 1 by level: the mean over examples of each track's best reward."""
    by_level: dict[int, list[float]] = {}
    for r in records:
        if r["best_reward"] is not None:
            by_level.setdefault(r["level"], []).append(r["best_reward"])
    return [
        {"level": lv, "mean_best_reward": sum(v) / len(v), "tracks": len(v)}
        for lv, v in sorted(by_level.items())
    ]
