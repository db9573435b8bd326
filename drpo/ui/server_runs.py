"""The inspector's backend inside the LangGraph server: its threads, through the SDK's loopback
client. A view is ``drpo.runtime.summary.summarize_state`` of the thread's state, its store items
and its history; a fork stays in its thread: ``update_state`` at the level's checkpoint, then a
run."""

from __future__ import annotations

from typing import Any

from drpo.core.records import LEVELS, group_levels
from drpo.core.schemas import ApprovalAnswer
from drpo.core.state import LevelRecord
from drpo.runtime.runner import RunError
from drpo.runtime.summary import branch_levels, summarize_state
from drpo.ui.views import ForkRequest, check_fork, fork_config, history_row, inspect_view, run_row
from drpo.web.policy import RequestPolicy

PAGE = 100


def level_checkpoint(
    run_id: str, checkpoints: dict[tuple[str, int], str], fork: ForkRequest
) -> str:
    cid = checkpoints.get((fork.stage, fork.level))
    if cid is None:
        have = sorted(lv for st, lv in checkpoints if st == fork.stage)
        raise RunError(
            f"run {run_id!r} has no checkpoint after {fork.stage} level {fork.level}; levels "
            f"that can be forked: {', '.join(map(str, have)) if have else 'none yet'}"
        )
    return cid


def server_row(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of the server's history API in ``checkpoint_row``'s plain form."""
    values = state.get("values") if isinstance(state.get("values"), dict) else {}
    meta = state.get("metadata") or {}
    return {
        "checkpoint_id": state["checkpoint"]["checkpoint_id"],
        "parent_id": (state.get("parent_checkpoint") or {}).get("checkpoint_id"),
        "closed": (values or {}).get("closed"),
        "next": list(state.get("next") or []),
        "step": meta.get("step"),
        "source": meta.get("source"),
        "created_at": state.get("created_at"),
    }


class ServerRuns:
    """The threads of the LangGraph server this app is mounted in."""

    def __init__(self, policy: RequestPolicy | None = None, assistant_id: str = "drpo") -> None:
        self.policy = policy or RequestPolicy()  # what a fork request may name
        self.assistant_id = assistant_id

    def _client(self) -> Any:
        from langgraph_sdk import get_client

        return get_client()  # no url: the in-process loopback transport of the server

    async def _last_run(self, tid: str) -> dict[str, Any]:
        runs = await self._client().runs.list(tid, limit=1)
        return runs[0] if runs else {}

    async def _checkpoints(self, tid: str) -> list[dict[str, Any]]:
        """Every checkpoint of the thread (all branches), newest first."""
        client, rows = self._client(), list[dict[str, Any]]()
        before: Any = None
        while True:
            page = await client.threads.get_history(tid, limit=PAGE, before=before)
            rows.extend(server_row(s) for s in page)
            if len(page) < PAGE:
                return rows
            before = page[-1]["checkpoint"]

    async def _records(self, tid: str) -> dict[str, list[LevelRecord]]:
        client, values = self._client(), list[dict[str, Any]]()
        while True:
            page = await client.store.search_items((LEVELS, tid), limit=PAGE, offset=len(values))
            values.extend(item["value"] for item in page["items"])
            if len(page["items"]) < PAGE:
                return group_levels(values)

    async def _summary(self, tid: str, full: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        client = self._client()
        thread = await client.threads.get(tid)
        state = await client.threads.get_state(tid)
        values = state.get("values") if isinstance(state.get("values"), dict) else {}
        interrupts = [i.get("value") for t in state.get("tasks") or [] for i in t["interrupts"]]
        records = await self._records(tid) if full else {}
        checkpoints = branch_levels(await self._checkpoints(tid)) if full else {}
        meta = thread.get("metadata") or {}
        view = summarize_state(
            tid, values or {}, list(state.get("next") or []), interrupts, records, checkpoints,
            meta, {},
        )  # fmt: skip
        if thread["status"] == "busy":
            view["status"] = "running"
        elif thread["status"] == "error":
            view["status"] = "failed"
        return view, values or {}

    async def list_runs(self) -> list[dict[str, Any]]:
        threads = await self._client().threads.search(
            limit=50, sort_by="created_at", sort_order="desc"
        )
        rows = []
        for t in threads:
            light, values = await self._summary(t["thread_id"], full=False)
            rows.append(run_row(t["thread_id"], t["created_at"], light, values.get("beam")))
        return rows

    async def get_run(self, run_id: str) -> dict[str, Any]:
        last = await self._last_run(run_id)
        context = (last.get("kwargs") or {}).get("context") or {}
        view, values = await self._summary(run_id, full=True)
        return {**inspect_view(view), "context": context, "config": values.get("config")}

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        return [history_row(row) for row in await self._checkpoints(run_id)]

    async def _create(self, tid: str, **kwargs: Any) -> dict[str, Any]:
        last = await self._last_run(tid)
        context = kwargs.pop("context", None) or (last.get("kwargs") or {}).get("context")
        run = await self._client().runs.create(
            tid, last.get("assistant_id") or self.assistant_id, context=context, **kwargs
        )
        return {"run_id": tid, "server_run_id": run["run_id"]}

    async def replay(self, run_id: str, checkpoint_id: str) -> dict[str, Any]:
        return await self._create(run_id, input=None, checkpoint_id=checkpoint_id)

    async def fork(self, run_id: str, fork: ForkRequest) -> dict[str, Any]:
        """LangGraph's own fork in the thread: the level's checkpoint updated as if its
        prune_beam wrote the (changed) config, then a run with the new judge from there. The
        store items of later levels are rewritten by the new branch."""
        client = self._client()
        parent_context = ((await self._last_run(run_id)).get("kwargs") or {}).get("context") or {}
        check_fork(fork, self.policy, parent_context)
        if (await client.threads.get(run_id))["status"] == "busy":
            raise RunError(f"run {run_id!r} is still running: fork it once it stops")
        cid = level_checkpoint(run_id, branch_levels(await self._checkpoints(run_id)), fork)
        values = (await client.threads.get_state(run_id, checkpoint_id=cid))["values"]
        config = fork_config(values["config"], fork.W, fork.M, fork.D)
        await client.threads.update_state(
            run_id, {"config": config}, checkpoint_id=cid, as_node="prune_beam"
        )
        origin = {"run_id": run_id, "stage": fork.stage, "level": fork.level, "checkpoint_id": cid}
        await client.threads.update(run_id, metadata={"forked_from": origin})
        judge = {"judge_model": fork.judge_model, "judge_node": fork.judge_node}
        context = {**parent_context, **judge}
        return {**await self._create(run_id, input=None, context=context), "forked_from": origin}

    async def answer(self, run_id: str, answer: ApprovalAnswer) -> dict[str, Any]:
        return await self._create(run_id, command={"resume": answer.model_dump()})

    async def stop(self, run_id: str) -> dict[str, Any]:
        """Cancel the thread's running runs, keeping their checkpoints (action "interrupt")."""
        client = self._client()
        running = await client.runs.list(run_id, status="running")
        for r in running:
            await client.runs.cancel(run_id, r["run_id"], action="interrupt")
        return {"run_id": run_id, "message": f"stop requested ({len(running)} run(s) cancelled)"}
