"""Where the inspector reads runs from, and how it replays, forks and answers them.

``LocalRuns``: the runs of a run dir (``drpo ui``), each compiled with its own SQLite
checkpointer (``Run.graph``); replays, forks and answers run as tasks of the ``drpo ui`` process.
``ServerRuns``: the threads of the LangGraph server the page is mounted in (SDK loopback client).
Both hand ``views.summarize`` the same JSON form of a thread state.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot

from drpo.models.registry import parse_spec
from drpo.runner import Run, RunError, summary
from drpo.stopping import STOP_FILE, request_stop
from drpo.ui.views import fork_seed, history_row, summarize
from nodes.review_best import ApprovalAnswer


class Backend(Protocol):
    async def list_runs(self) -> list[dict[str, Any]]: ...
    async def get_run(self, run_id: str) -> dict[str, Any]: ...
    async def history(self, run_id: str) -> list[dict[str, Any]]: ...
    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]: ...
    async def fork(self, run_id: str, checkpoint_id: str, judge_model: str) -> dict[str, Any]: ...
    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]: ...
    async def stop(self, run_id: str) -> dict[str, Any]: ...


def snapshot_json(snap: StateSnapshot) -> dict[str, Any]:
    return {
        "values": dict(snap.values),
        "next": list(snap.next),
        "tasks": [
            {
                "name": t.name,
                "interrupts": [{"value": i.value} for i in t.interrupts],
                "state": {"values": dict(t.state.values), "next": list(t.state.next)}
                if isinstance(t.state, StateSnapshot)
                else None,
            }
            for t in snap.tasks
        ],
    }


def _row(run_id: str, view: dict[str, Any], created: Any) -> dict[str, Any]:
    keys = ("status", "stage", "level", "best_reward")
    return {"run_id": run_id, "created": created, **{k: view[k] for k in keys}}


class LocalRuns:
    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir)
        self.active: dict[str, asyncio.Task[None]] = {}
        self.errors: dict[str, str] = {}

    def _run(self, run_id: str) -> Run:
        run = Run(self.root, run_id)
        run.load()
        return run

    async def _view(self, run: Run) -> dict[str, Any]:
        async with run.graph() as g:
            view = summarize(snapshot_json(await g.aget_state(run.thread, subgraphs=True)))
        if run.id in self.active:
            view["status"] = "running"
        elif run.id in self.errors:
            view["status"] = "failed"
            view["error"] = self.errors[run.id]
        return view

    async def list_runs(self) -> list[dict[str, Any]]:
        rows = []
        for meta in sorted(self.root.glob("*/run.json")):
            run = Run(self.root, meta.parent.name)
            created = json.loads(meta.read_text()).get("created")
            rows.append(_row(run.id, await self._view(run), created))
        return sorted(rows, key=lambda r: -(r["created"] or 0))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        _, context = run.load()
        return {"run_id": run_id, "context": asdict(context), **await self._view(run)}

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        run = self._run(run_id)
        rows = []
        async with run.graph() as g:
            async for s in g.aget_state_history(run.thread):
                rows.append(
                    history_row(
                        {
                            "checkpoint_id": s.config["configurable"]["checkpoint_id"],
                            "step": s.metadata.get("step") if s.metadata else None,
                            "source": s.metadata.get("source") if s.metadata else None,
                            "created_at": s.created_at,
                            "next": list(s.next),
                        }
                    )
                )
        return rows

    def _start(self, run: Run, payload: Any, config: RunnableConfig) -> None:
        if run.id in self.active:
            raise RunError(f"run {run.id!r} is already running")
        self.errors.pop(run.id, None)
        self.active[run.id] = asyncio.create_task(self._drive(run, payload, config))

    async def _drive(self, run: Run, payload: Any, config: RunnableConfig) -> None:
        _, context = run.load()
        try:
            async with run.graph() as g:
                async for _ in g.astream(
                    payload, config, context=context, subgraphs=True, durability="sync"
                ):
                    pass
            (run.dir / "result.json").write_text(json.dumps(await summary(run), indent=2))
        except Exception as exc:  # shown on the page; the run stays resumable
            self.errors[run.id] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        finally:
            self.active.pop(run.id, None)

    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        cfg: RunnableConfig = {
            "configurable": {"thread_id": run.id, "checkpoint_id": checkpoint_id}
        }
        self._start(run, None, cfg)
        return {"run_id": run.id}

    async def fork(self, run_id: str, checkpoint_id: str, judge_model: str) -> dict[str, Any]:
        parse_spec(judge_model)
        run = self._run(run_id)
        config, context = run.load()
        async with run.graph() as g:
            snap = await g.aget_state(
                {"configurable": {"thread_id": run.id, "checkpoint_id": checkpoint_id}}
            )
        if not snap.next and snap.values:
            raise RunError("that checkpoint is the end of the run: nothing to fork")
        n = 1 + sum(1 for _ in self.root.glob(f"{run.id}-fork-*/run.json"))
        new = Run(self.root, f"{run.id}-fork-{n}")
        new.create(config, replace(context, judge_model=judge_model))
        as_node = fork_seed(list(snap.next))
        payload: Any = {"config": config.model_dump()}
        if as_node:
            async with new.graph() as g:
                await g.aupdate_state(new.thread, dict(snap.values), as_node=as_node)
            payload = None
        self._start(new, payload, new.thread)
        return {"run_id": new.id}

    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]:
        run = self._run(run_id)
        if not (await self._view(run))["pending"]:
            raise RunError(f"run {run.id!r} has no pending approval")
        self._start(run, Command(resume=answer.model_dump()), run.thread)
        return {"run_id": run.id}

    async def stop(self, run_id: str) -> dict[str, Any]:
        """Write the run's STOP file: a `drpo optimize`/`resume` running it stops gracefully
        (drpo/stopping.py); a replay, fork or answer driven by this process is cancelled."""
        run = self._run(run_id)
        request_stop(run.dir)
        if task := self.active.get(run.id):
            task.cancel()  # finished tasks are saved; the rest runs again on resume
        return {"run_id": run.id, "message": f"stop requested ({run.dir / STOP_FILE})"}

    async def wait(self) -> None:
        """Wait for the replays, forks and answers started by this process (tests, shutdown)."""
        while self.active:
            await asyncio.gather(*list(self.active.values()), return_exceptions=True)


class ServerRuns:
    """The threads of the LangGraph server this app is mounted in."""

    def __init__(self, assistant_id: str = "drpo") -> None:
        self.assistant_id = assistant_id

    def _client(self) -> Any:
        from langgraph_sdk import get_client

        return get_client()  # no url: the in-process loopback transport of the server

    async def _last_run(self, tid: str) -> dict[str, Any]:
        runs = await self._client().runs.list(tid, limit=1)
        return runs[0] if runs else {}

    async def _view(self, tid: str) -> dict[str, Any]:
        client = self._client()
        thread = await client.threads.get(tid)
        view = summarize(await client.threads.get_state(tid, subgraphs=True))
        if thread["status"] == "busy":
            view["status"] = "running"
        elif thread["status"] == "error":
            view["status"] = "failed"
        return view

    async def list_runs(self) -> list[dict[str, Any]]:
        threads = await self._client().threads.search(
            limit=50, sort_by="created_at", sort_order="desc"
        )
        return [
            _row(t["thread_id"], await self._view(t["thread_id"]), t["created_at"]) for t in threads
        ]

    async def get_run(self, run_id: str) -> dict[str, Any]:
        last = await self._last_run(run_id)
        context = (last.get("kwargs") or {}).get("context") or {}
        return {"run_id": run_id, "context": context, **await self._view(run_id)}

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        states = await self._client().threads.get_history(run_id, limit=200)
        return [
            history_row(
                {
                    "checkpoint_id": s["checkpoint"]["checkpoint_id"],
                    "step": (s.get("metadata") or {}).get("step"),
                    "source": (s.get("metadata") or {}).get("source"),
                    "created_at": s.get("created_at"),
                    "next": s.get("next") or [],
                }
            )
            for s in states
        ]

    async def _create(self, tid: str, **kwargs: Any) -> dict[str, Any]:
        last = await self._last_run(tid)
        context = kwargs.pop("context", None) or (last.get("kwargs") or {}).get("context")
        run = await self._client().runs.create(
            tid, last.get("assistant_id") or self.assistant_id, context=context, **kwargs
        )
        return {"run_id": tid, "server_run_id": run["run_id"]}

    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]:
        return await self._create(run_id, input=None, checkpoint_id=checkpoint_id)

    async def fork(self, run_id: str, checkpoint_id: str, judge_model: str) -> dict[str, Any]:
        parse_spec(judge_model)
        client = self._client()
        last = await self._last_run(run_id)
        snap = await client.threads.get_state(run_id, checkpoint_id=checkpoint_id)
        if not snap.get("next") and snap.get("values"):
            raise RunError("that checkpoint is the end of the run: nothing to fork")
        context = {**((last.get("kwargs") or {}).get("context") or {}), "judge_model": judge_model}
        source = await client.threads.get(run_id)
        graph_id = (source.get("metadata") or {}).get("graph_id") or self.assistant_id
        new = await client.threads.create(metadata={"graph_id": graph_id, "forked_from": run_id})
        as_node = fork_seed(list(snap.get("next") or []))
        payload = (last.get("kwargs") or {}).get("input")
        if as_node:
            await client.threads.update_state(new["thread_id"], snap["values"], as_node=as_node)
            payload = None
        run = await client.runs.create(
            new["thread_id"],
            last.get("assistant_id") or self.assistant_id,
            input=payload,
            context=context,
        )
        return {"run_id": new["thread_id"], "server_run_id": run["run_id"]}

    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]:
        return await self._create(run_id, command={"resume": answer.model_dump()})

    async def stop(self, run_id: str) -> dict[str, Any]:
        """Cancel the thread's running runs, keeping their checkpoints (action "interrupt")."""
        client = self._client()
        running = await client.runs.list(run_id, status="running")
        for r in running:
            await client.runs.cancel(run_id, r["run_id"], action="interrupt")
        return {"run_id": run_id, "message": f"stop requested ({len(running)} run(s) cancelled)"}
