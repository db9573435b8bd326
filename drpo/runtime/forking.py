"""Fork a run at any level of either stage: a new run that starts from the checkpoint after
that level (its levels 0..K are the parent's, no call is made again) and runs on with its own
models, judge, W/M/D/B or approval gate.

The new run is a new thread seeded with the parent's state at that checkpoint, written
``as_node="prune_beam"`` so that the level's router runs again under the fork's config; the
parent's level records and lineages up to the fork level are copied into the fork's store
namespace (``drpo.core.records``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.provenance import forked_history, judge_at, judge_label
from drpo.core.records import LEVELS, LINEAGE, PLAN, copy_records
from drpo.core.state import STAGES
from drpo.runtime.checkpointer_url import redact
from drpo.runtime.runlock import RunLock, writer_active
from drpo.runtime.runner import Run, RunError
from drpo.runtime.summary import level_checkpoints

ASIDE = ".fork-"  # RUN_DIR/.fork-<new id>/<new id>: a fork being built, moved into place


async def fork_run(
    parent: Run,
    new: Run,
    stage: str,
    level: int,
    config: dict[str, Any],
    context: Context,
) -> dict[str, Any]:
    """Seed ``new`` from ``parent`` after (stage, level); returns its ``forked_from``. The new
    run is built aside and moved into place once its first checkpoint is written: a failed or
    killed fork leaves no run (what it left aside is removed by the next fork of that id)."""
    if stage not in STAGES:
        raise RunError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    if new.exists():
        raise RunError(f"run {new.id!r} already exists in {new.root}")
    parent.load()
    if writer_active(parent.dir):
        raise RunError(
            f"run {parent.id!r} is still running ({RunLock(parent.dir, parent.id).holder()}): "
            "fork it once it stops"
        )
    # the shared store and call cache, before any write; off the event loop (drpo ui forks)
    await asyncio.to_thread(new.check_files, context.llm_cache)
    async with parent.reader().graph() as g, _aside(new) as built:
        checkpoints = await level_checkpoints(g, parent.thread)
        cid = checkpoints.get((stage, level))
        if cid is None:
            have = sorted(lv for st, lv in checkpoints if st == stage)
            listed = ", ".join(map(str, have)) if have else "none yet"
            raise RunError(
                f"run {parent.id!r} has no checkpoint after {stage} level {level}; "
                f"levels that can be forked: {listed}"
            )
        snap = await g.aget_state({"configurable": {"thread_id": parent.id, "checkpoint_id": cid}})
        values: dict[str, Any] = dict(snap.values)
        run_config = RunConfig.model_validate(config)
        values["config"] = run_config.model_dump()
        origin = {"run_id": parent.id, "stage": stage, "level": level, "checkpoint_id": cid}
        at = {"stage": stage, "level": level}
        history = forked_history(parent.model_history(), context, at, _first(run_config, at))
        _switch_judge(values, judge_label(**judge_at(history, stage, level)), context)
        built.create(run_config, context, extra={"forked_from": origin, "model_history": history})
        async with built.graph() as g2:
            if g.store is None or g2.store is None:
                raise RunError(f"run {parent.id!r} has no level records to fork from")
            await _clear(g2.store, new.id)  # what a killed fork of this id copied
            await copy_records(g.store, parent.id, g2.store, new.id, stage, level)
            await g2.aupdate_state(new.thread, values, as_node="prune_beam")
    return origin


def _first(config: RunConfig, after: dict[str, Any]) -> dict[str, Any]:
    """The first level a fork after ``after`` computes (stage 1's last: stage 2's level 0)."""
    if after["stage"] == "icl" and after["level"] >= config.icl.D:
        return {"stage": "system_prompt", "level": 0}
    return {"stage": after["stage"], "level": after["level"] + 1}


def _switch_judge(values: dict[str, Any], parent_judge: str, context: Context) -> None:
    """Stage 1 keeps each example's best across levels (nodes/prune_beam.py), and --patience the
    best prompt so far (nodes/check.py), marked with the judge that scored them; with another
    judge, the fork's first level replaces each example's best (a track stopped on the old
    judge's 5s goes on) and its first check judges the best prompt again."""
    for kept in [*(values.get("best") or {}).values(), values.get("progress") or {}]:
        kept.setdefault("judge", parent_judge)  # a parent made before the marks
    if values.get("stage") == "icl" and parent_judge != judge_label(
        context.judge_model, context.judge_node
    ):
        values["done_tracks"] = []


@asynccontextmanager
async def _aside(new: Run) -> AsyncIterator[Run]:
    """``new`` built in RUN_DIR/.fork-<id>/ under that folder's lock (one fork per id at a
    time), then renamed into place; on any failure the folder is removed."""
    folder = new.root / f"{ASIDE}{new.id}"
    folder.mkdir(parents=True, exist_ok=True)
    lock = RunLock(folder, new.id)
    if not lock.try_acquire():
        raise RunError(f"run {new.id!r} is being forked by {lock.holder()}")
    built = Run(new.root, new.id, new.checkpointer)
    built.dir = folder / new.id
    try:
        if (
            (built.dir / "run.json").exists()
            and built.checkpointer
            and await built.has_checkpoints()
        ):
            # PostgreSQL: a fork killed after its first checkpoint, before it got into place
            os.rename(built.dir, new.dir)
            raise RunError(
                f"run {new.id!r}: a fork of that id was killed before it was moved into place, "
                f"after its first checkpoint; it is in place now: drpo resume {new.id}"
            )
        shutil.rmtree(built.dir, ignore_errors=True)  # left by a killed fork (its lock is free)
        if new.checkpointer and await new.has_checkpoints():
            raise RunError(f"run {new.id!r} already exists in {redact(new.checkpointer)}")
        yield built
        if new.dir.exists():  # made meanwhile (e.g. drpo optimize --run-id): never replaced
            raise RunError(f"run {new.id!r} already exists in {new.root}")
        os.rename(built.dir, new.dir)
    finally:
        shutil.rmtree(built.dir, ignore_errors=True)
        lock.release()
        with contextlib.suppress(OSError):
            folder.rmdir()


async def _clear(store: BaseStore, thread: str) -> None:
    """Delete a thread's level records, lineages and plan (of a fork that never got into
    place: no run has this id). Exact namespaces only: ("drpo_levels", "f") also finds "f.2"."""
    for namespace in (LEVELS, LINEAGE, PLAN):
        found: list[str] = []
        while page := await store.asearch(
            (namespace, thread), limit=500, offset=len(found), refresh_ttl=False
        ):
            found += [i.key if tuple(i.namespace) == (namespace, thread) else "" for i in page]
        for key in filter(None, found):
            await store.adelete((namespace, thread), key)


def forked_context(parent: Context, overrides: dict[str, Any]) -> Context:
    return Context(**{**asdict(parent), **{k: v for k, v in overrides.items() if v is not None}})


async def reopen_search(run: Run, level: int) -> str:
    """A run whose search a budget stopped after stage-2 ``level`` searches on (a larger budget):
    LangGraph's own fork in the run's thread, at that level's checkpoint, with the stop lifted;
    the next levels, the selection and the confirmation run again on the new branch. Returns the
    checkpoint it starts from."""
    async with run.graph() as g:
        cid = (await level_checkpoints(g, run.thread)).get(("system_prompt", level))
        if cid is None:
            raise RunError(f"run {run.id!r} has no checkpoint after stage-2 level {level}")
        at: RunnableConfig = {
            "configurable": {"thread_id": run.id, "checkpoint_ns": "", "checkpoint_id": cid}
        }
        await g.aupdate_state(at, {"budget_stop": None}, as_node="prune_beam")
    return cid
