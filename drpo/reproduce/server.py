"""The table's runs on a LangGraph server (``--server URL``): one thread per planned run, its id
derived from the run's id (so a re-run finds it), each run created as a background run through
langgraph-sdk and polled. A finished thread is skipped, one with a run in flight is waited for,
an interrupted one gets a new run that continues from its last checkpoint. Every worker of a
deployment with PostgreSQL persistence can execute them. The budgets of the local executor
(the call gate of drpo/llm/session.py) do not exist on a server: ``--max-calls``/``--max-usd``
are refused with ``--server``."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from drpo.core.context import Context
from drpo.core.files import write_atomic
from drpo.reproduce.budget import Slots
from drpo.reproduce.plan import PlannedRun, TablePlan
from drpo.reproduce.run import Outcome, Progress, context_for

ASSISTANT = "drpo"  # the graph's name in langgraph.json
NAMESPACE = uuid.UUID("6f1d7c36-5b0e-4d8a-9a57-3f2d2a3f8e11")  # thread ids of reproduce runs
POLL_S = 0.5
ACTIVE = ("pending", "running")
PACK_FORMAT = "drpo-alignment-pack/1"


class ServerError(ValueError):
    """The server cannot be used (one line)."""


def thread_id(run_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, run_id))


def _client(url: str) -> Any:
    try:
        from langgraph_sdk import get_client  # optional: the "dev" extra, not a dependency
    except ImportError as exc:
        raise ServerError("--server needs langgraph-sdk (pip install langgraph-sdk)") from exc
    return get_client(url=url)


def server_context(context: Context) -> dict[str, Any]:
    """The run context sent to the server: the models and steps (no local paths)."""
    keep = ("base_model", "optimizer_model", "judge_model", "selector_model", "judge_node",
            "retriever", "embedding_model", "parse_retries")  # fmt: skip
    return {k: v for k, v in asdict(context).items() if k in keep}


class ServerSweep:
    def __init__(self, plan: TablePlan, url: str, concurrency: int, progress: Progress) -> None:
        self.plan, self.url, self.progress = plan, url, progress
        self.client = _client(url)
        self.slots = Slots(concurrency)
        self.context = server_context(context_for(plan, Path("."), {}))
        self.finished = {r.id: asyncio.Event() for r in plan.runs}
        self.outcomes: dict[str, Outcome] = {}
        self.values: dict[str, dict[str, Any]] = {}  # each finished thread's final state

    async def check(self) -> None:
        try:
            await self.client.assistants.search(graph_id=ASSISTANT, limit=1)
        except Exception as exc:
            why = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise ServerError(f"--server {self.url}: no LangGraph server answers ({why})") from None

    async def run_all(self) -> dict[str, Outcome]:
        await asyncio.gather(*(self._one(r) for r in self.plan.runs))
        return self.outcomes

    def _say(self, outcome: Outcome) -> None:
        self.outcomes[outcome.run] = outcome
        n = f"{len(self.outcomes)}/{len(self.plan.runs)}"
        detail = f": {outcome.detail}" if outcome.detail else ""
        self.progress(f"reproduce {self.plan.table}: run {outcome.run} {outcome.status} on "
                      f"{self.url}{detail} [{n}]")  # fmt: skip

    async def _one(self, planned: PlannedRun) -> None:
        if planned.icl_from:
            await self.finished[planned.icl_from].wait()
            if planned.icl_from not in self.values:
                self._say(Outcome(planned.id, "blocked", f"needs {planned.icl_from} finished"))
                self.finished[planned.id].set()
                return
        tid = thread_id(planned.id)
        await self.client.threads.create(
            thread_id=tid,
            if_exists="do_nothing",
            metadata={"drpo_reproduce": planned.id, "table": self.plan.table},
        )
        state = await self.client.threads.get_state(tid)
        if state.get("values") and not state.get("next"):
            self.values[planned.id] = state["values"]
            self._say(Outcome(planned.id, "skipped", f"finished before (thread {tid})"))
            self.finished[planned.id].set()
            return
        outcome = await self._execute(planned, tid, bool(state.get("values")))
        self._say(outcome)
        self.finished[planned.id].set()

    async def _execute(self, planned: PlannedRun, tid: str, started: bool) -> Outcome:
        share = await self.slots.take(1)
        try:
            running = [r for s in ACTIVE for r in await self.client.runs.list(tid, status=s)]
            if running:
                run = running[0]
                self.progress(f"  [{planned.id}] waiting for run {run['run_id']} in flight")
            else:
                payload = None if started else self._input(planned)
                run = await self.client.runs.create(
                    tid, ASSISTANT, input=payload, context=self.context,
                    config={"max_concurrency": share}, multitask_strategy="reject",
                )  # fmt: skip
                verb = "continued" if started else "submitted"
                self.progress(f"  [{planned.id}] {verb} as run {run['run_id']} (thread {tid})")
            status = await self._wait(tid, run["run_id"])
        finally:
            await self.slots.give(share)
        state = await self.client.threads.get_state(tid)
        if status == "success" and state.get("values") and not state.get("next"):
            self.values[planned.id] = state["values"]
            return Outcome(planned.id, "finished", f"thread {tid}")
        return Outcome(planned.id, "failed", f"run {run['run_id']} ended {status} (thread {tid})")

    def _input(self, planned: PlannedRun) -> dict[str, Any]:
        payload: dict[str, Any] = {"config": planned.config.model_dump()}
        if planned.icl_from:
            examples = self.values[planned.icl_from].get("icl_examples") or []
            payload["icl_examples"] = [{"query": e["query"], "response": e["response"]}
                                       for e in examples]  # fmt: skip
        return payload

    async def _wait(self, tid: str, run_id: str) -> str:
        while True:
            run = await self.client.runs.get(tid, run_id)
            if run["status"] not in ACTIVE:
                return str(run["status"])
            await asyncio.sleep(POLL_S)

    def packs(self, out: Path) -> dict[str, tuple[dict[str, Any], str]]:
        """Each run's pack from its thread's final state (the run's files live on the server,
        so `drpo export` cannot read them), in OUT/packs/."""
        folder = out / "packs"
        folder.mkdir(parents=True, exist_ok=True)
        made: dict[str, tuple[dict[str, Any], str]] = {}
        for planned in self.plan.runs:
            values = self.values[planned.id]
            pack = {
                "format": PACK_FORMAT,
                "run_id": planned.id,
                "server": {"url": self.url, "thread_id": thread_id(planned.id)},
                "system_prompt": values["best_system_prompt"],
                "best_reward": values.get("best_reward"),
                "validation": values.get("validation"),
                "icl_examples": values.get("icl_examples") or [],
                "K": planned.config.system_prompt.K,
                "embedding_model": self.context["embedding_model"],
                "models": self.plan.models,
                "judge_node": self.context["judge_node"],
                "config": planned.config.model_dump(),
                "calls": values.get("calls") or {},
            }
            path = folder / f"{planned.id}.json"
            write_atomic(path, json.dumps(pack, indent=2, ensure_ascii=False))
            made[planned.id] = (pack, str(path))
        return made
