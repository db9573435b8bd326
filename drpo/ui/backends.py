"""Where the inspector reads runs from, and how it replays, forks and answers them.

``LocalRuns``: the runs of a run dir (``drpo ui``), each compiled with its own SQLite
checkpointer (``Run.graph``); replays, forks and answers run as tasks of the ``drpo ui`` process.
A fork is a new run (``drpo.runtime.forking.fork_run``, like `drpo fork`).
``ServerRuns`` (``server_runs.py``): the threads of the LangGraph server the page is mounted in.
Both build their views with ``drpo.runtime.summary.summarize_state`` from plain JSON.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from drpo.core.records import remembered
from drpo.core.schemas import ApprovalAnswer
from drpo.runtime.cache import open_session
from drpo.runtime.forking import fork_run, forked_context
from drpo.runtime.runlock import RunLock, mark_held
from drpo.runtime.runner import Run, RunError, summary
from drpo.runtime.stopping import STOP_FILE, request_stop
from drpo.runtime.summary import checkpoint_row, summarize_run, summarize_state
from drpo.ui.views import (
    ForkRequest,
    check_fork,
    fork_config,
    history_row,
    inspect_view,
    run_row,
)
from drpo.web.policy import RequestPolicy


class Backend(Protocol):
    async def list_runs(self) -> list[dict[str, Any]]: ...
    async def get_run(self, run_id: str) -> dict[str, Any]: ...
    async def history(self, run_id: str) -> list[dict[str, Any]]: ...
    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]: ...
    async def fork(self, run_id: str, fork: ForkRequest) -> dict[str, Any]: ...
    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]: ...
    async def stop(self, run_id: str) -> dict[str, Any]: ...


class LocalRuns:
    def __init__(self, run_dir: Path, policy: RequestPolicy | None = None) -> None:
        self.root = Path(run_dir)
        self.policy = policy or RequestPolicy()  # what a fork request may name
        self.active: dict[str, asyncio.Task[None]] = {}
        self.errors: dict[str, str] = {}

    def _run(self, run_id: str) -> Run:
        run = Run(self.root, run_id)
        run.load()
        return run

    def _status(self, run_id: str, view: dict[str, Any]) -> dict[str, Any]:
        if run_id in self.active:
            view["status"] = "running"
        elif run_id in self.errors:
            view["status"] = "failed"
            view["error"] = self.errors[run_id]
        return view

    async def list_runs(self) -> list[dict[str, Any]]:
        rows = []
        for meta in sorted(self.root.glob("*/run.json")):
            created = json.loads(meta.read_text()).get("created")
            try:
                run = self._run(meta.parent.name)
            except RunError as exc:  # e.g. a run of another drpo's format
                rows.append({"run_id": meta.parent.name, "created": created, "error": str(exc)})
                continue
            async with run.graph() as g:
                snap = await g.aget_state(run.thread)
            values = dict(snap.values)
            interrupts = [i.value for t in snap.tasks for i in t.interrupts]
            light = summarize_state(run.id, values, list(snap.next), interrupts, {}, {}, {}, {})
            rows.append(self._status(run.id, run_row(run.id, created, light, values.get("beam"))))
        return sorted(rows, key=lambda r: -(r["created"] or 0))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        config, context = run.load()
        async with run.graph() as g:
            view = inspect_view(await summarize_run(g, run.id, run.meta(), run.dir))
        extra = {"context": asdict(context), "config": config.model_dump()}
        return self._status(run.id, {**view, **extra})

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        run = self._run(run_id)
        rows = []
        async with run.graph() as g:
            async for s in g.aget_state_history(run.thread):
                meta = s.metadata or {}
                row = {**checkpoint_row(s), "step": meta.get("step"), "source": meta.get("source")}
                rows.append(history_row({**row, "created_at": s.created_at}))
        return rows

    def _start(self, run: Run, payload: Any, config: RunnableConfig) -> None:
        if run.id in self.active:
            raise RunError(f"run {run.id!r} is already running")
        lock = RunLock(run.dir, run.id)  # one writer per run (drpo/runtime/runlock.py)
        if not lock.try_acquire():
            raise RunError(str(lock.refusal()))
        self.errors.pop(run.id, None)
        self.active[run.id] = asyncio.create_task(self._drive(run, payload, config, lock))

    async def _drive(self, run: Run, payload: Any, config: RunnableConfig, lock: RunLock) -> None:
        _, context = run.load()
        # cache (its keys are read from the file), budget, usage: off the server's event loop
        session = await asyncio.to_thread(open_session, run.dir, run.root, context)
        try:
            async with mark_held(run.dir), run.graph() as g, session.active(), remembered():
                limits: RunnableConfig = {"max_concurrency": context.max_concurrency}
                async for _ in g.astream(
                    payload, {**config, **limits}, context=context, durability="sync"
                ):
                    pass
            if session.stopped:
                raise RuntimeError(f"budget reached: {session.stopped}")
            # as `drpo optimize` writes it; encoding and writing off the server's event loop
            await asyncio.to_thread(run.write_result, await summary(run))
        except Exception as exc:  # shown on the page; the run stays resumable
            self.errors[run.id] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        finally:
            lock.release()
            self.active.pop(run.id, None)

    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        cfg: RunnableConfig = {
            "configurable": {"thread_id": run.id, "checkpoint_id": checkpoint_id}
        }
        self._start(run, None, cfg)
        return {"run_id": run.id}

    async def fork(self, run_id: str, fork: ForkRequest) -> dict[str, Any]:
        """A new run ``<run>-fork-N`` from the checkpoint after the level (`drpo fork`)."""
        parent = self._run(run_id)
        config, context = parent.load()
        check_fork(fork, self.policy, asdict(context))
        if parent.id in self.active:
            raise RunError(f"run {parent.id!r} is still running: fork it once it stops")
        n = 1 + sum(1 for _ in self.root.glob(f"{parent.id}-fork-*/run.json"))
        new = Run(self.root, f"{parent.id}-fork-{n}")
        judge = {"judge_model": fork.judge_model, "judge_node": fork.judge_node}
        origin = await fork_run(
            parent,
            new,
            fork.stage,
            fork.level,
            fork_config(config.model_dump(), fork.W, fork.M, fork.D),
            forked_context(context, judge),
        )
        self._start(new, None, new.thread)
        return {"run_id": new.id, "forked_from": origin}

    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]:
        run = self._run(run_id)
        async with run.graph() as g:
            if not (await summarize_run(g, run.id, run.meta(), run.dir))["pending"]:
                raise RunError(f"run {run.id!r} has no pending approval")
        self._start(run, Command(resume=answer.model_dump()), run.thread)
        return {"run_id": run.id}

    async def stop(self, run_id: str) -> dict[str, Any]:
        """Write the run's STOP file: a `drpo optimize`/`resume` running it stops gracefully
        (drpo/runtime/stopping.py); a replay, fork or answer driven by this process is cancelled."""
        run = self._run(run_id)
        request_stop(run.dir)
        if task := self.active.get(run.id):
            task.cancel()  # finished tasks are saved; the rest runs again on resume
        return {"run_id": run.id, "message": f"stop requested ({run.dir / STOP_FILE})"}

    async def wait(self) -> None:
        """Wait for the replays, forks and answers started by this process (tests, shutdown)."""
        while self.active:
            await asyncio.gather(*list(self.active.values()), return_exceptions=True)
