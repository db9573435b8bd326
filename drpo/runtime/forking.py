"""Fork a run at any level of either stage: a new run that starts from the checkpoint after
that level (its levels 0..K are the parent's, no call is made again) and runs on with its own
models, judge, W/M/D/B or approval gate.

The new run is a new thread seeded with the parent's state at that checkpoint, written
``as_node="prune_beam"`` so that the level's router runs again under the fork's config; the
parent's level records and lineages up to the fork level are copied into the fork's store
namespace (``drpo.core.records``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drpo.core.config import Context, RunConfig
from drpo.core.records import copy_records
from drpo.core.state import STAGES
from drpo.core.summary import level_checkpoints
from drpo.runtime.runlock import RunLock, writer_active
from drpo.runtime.runner import Run, RunError


async def fork_run(
    parent: Run,
    new: Run,
    stage: str,
    level: int,
    config: dict[str, Any],
    context: Context,
) -> dict[str, Any]:
    """Seed ``new`` from ``parent`` after (stage, level); returns its ``forked_from``."""
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
    async with parent.reader().graph() as g:
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
        async with new.writer():
            new.create(run_config, context, extra={"forked_from": origin})
            async with new.graph() as g2:
                if g.store is None or g2.store is None:
                    raise RunError(f"run {parent.id!r} has no level records to fork from")
                await copy_records(g.store, parent.id, g2.store, new.id, stage, level)
                await g2.aupdate_state(new.thread, values, as_node="prune_beam")
    return origin


def forked_context(parent: Context, overrides: dict[str, Any]) -> Context:
    return Context(**{**asdict(parent), **{k: v for k, v in overrides.items() if v is not None}})
