"""What `drpo show` prints: the run's state, its level records (from the store) and the
checkpoint that closes each level (from the checkpoint history, on the current branch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from drpo.core.provenance import History, history_of, judge_at
from drpo.core.records import read_levels, read_plan
from drpo.core.state import STAGES, LevelRecord
from drpo.llm.session import is_budget_stop
from drpo.llm.usage import model_calls, read_usage

# where a level's closing checkpoint stands: the level's final state (after any review)
AFTER_LEVEL = ("sample_query", "finish_stage", "review_best", "prepare_check")


def checkpoint_row(snap: Any) -> dict[str, Any]:
    """A StateSnapshot in the plain form ``branch_levels`` reads (the server API has the same)."""
    parent = snap.parent_config
    return {
        "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
        "parent_id": parent["configurable"].get("checkpoint_id") if parent else None,
        "closed": snap.values.get("closed"),
        "next": list(snap.next),
    }


def _walk(
    by_id: dict[str, dict[str, Any]], head: str | None
) -> tuple[dict[tuple[str, int], str], bool]:
    """Follow the parents from ``head``: the level checkpoints met, and whether the walk reached
    the thread's first checkpoint (False: it left ``by_id`` on the way)."""
    out: dict[tuple[str, int], str] = {}
    cid = head
    while cid is not None and cid in by_id:  # newest first: the first match is the latest
        row = by_id[cid]
        closed, nxt = row.get("closed"), row.get("next") or []
        if closed and nxt and nxt[0] in AFTER_LEVEL:
            out.setdefault((closed["stage"], closed["level"]), cid)
        cid = row.get("parent_id")
    return out, cid is None


def branch_levels(history: Iterable[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """(stage, level) -> the id of the checkpoint after that level, on the head's branch.
    ``history``: a thread's checkpoints newest first, as ``checkpoint_row`` gives them."""
    by_id: dict[str, dict[str, Any]] = {}
    head: str | None = None
    for row in history:
        head = head or row["checkpoint_id"]
        by_id[row["checkpoint_id"]] = row
    return _walk(by_id, head)[0]


def streamed_row(chunk: dict[str, Any]) -> dict[str, Any]:
    """A ``stream_mode="checkpoints"`` event in ``checkpoint_row``'s form."""
    parent = chunk.get("parent_config")
    return {
        "checkpoint_id": chunk["config"]["configurable"]["checkpoint_id"],
        "parent_id": parent["configurable"].get("checkpoint_id") if parent else None,
        "closed": (chunk.get("values") or {}).get("closed"),
        "next": list(chunk.get("next") or []),
    }


async def level_checkpoints(
    g: CompiledStateGraph[Any, Any, Any, Any],
    thread: RunnableConfig,
    seen: Iterable[dict[str, Any]] = (),
    head: str | None = None,
) -> dict[tuple[str, int], str]:
    """(stage, level) -> the id of the checkpoint after that level, on the head's branch.
    ``seen``: the checkpoints a run streamed as it made them (``streamed_row``); when they
    reach from ``head`` back to the thread's first checkpoint (a run made in one process),
    the checkpoint history is not read, which costs a snapshot per checkpoint."""
    if head is not None:
        found, complete = _walk({row["checkpoint_id"]: row for row in seen}, head)
        if complete:
            return found
    return branch_levels([checkpoint_row(s) async for s in g.aget_state_history(thread)])


def level_row(record: LevelRecord, checkpoint: str | None) -> dict[str, Any]:
    return {
        "level": record["level"],
        "best_reward": record["best_reward"],
        "queries": record["queries"],
        "aspects": record.get("aspects", {}),
        "candidates": len(record["candidates"]),
        "dropped_duplicates": record["dropped_duplicates"],
        "beam": record.get("beam", []),
        "checkpoint_id": checkpoint,
    }


def icl_rows(
    records: list[LevelRecord], checkpoints: dict[tuple[str, int], str]
) -> list[dict[str, Any]]:
    """Stage 1 by level: the mean over examples of each track's best reward, and the beams."""
    by_level: dict[int, list[LevelRecord]] = {}
    for r in records:
        by_level.setdefault(r["level"], []).append(r)
    rows = []
    for level, recs in sorted(by_level.items()):
        rewards = [r["best_reward"] for r in recs if r["best_reward"] is not None]
        rows.append(
            {
                "level": level,
                "mean_best_reward": sum(rewards) / len(rewards) if rewards else None,
                "tracks": len(rewards),
                "beams": [
                    {"track": r["track"], "best_reward": r["best_reward"], "beam": r["beam"]}
                    for r in recs
                ],
                "checkpoint_id": checkpoints.get(("icl", level)),
            }
        )
    return rows


async def summarize_run(
    g: CompiledStateGraph[Any, Any, Any, Any],
    run_id: str,
    meta: dict[str, Any],
    run_dir: Any,
    seen: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The summary of a run's thread; ``seen``: see ``level_checkpoints``."""
    thread: RunnableConfig = {"configurable": {"thread_id": run_id}}
    snapshot = await g.aget_state(thread)
    head = (snapshot.config or {}).get("configurable", {}).get("checkpoint_id")
    return summarize_state(
        run_id,
        dict(snapshot.values),
        list(snapshot.next),
        [i.value for task in snapshot.tasks for i in task.interrupts],
        await read_levels(g.store, run_id) if g.store is not None else {},
        await level_checkpoints(g, thread, seen, head),
        meta,
        read_usage(run_dir),
        await _seeds(g.store, run_id) if g.store is not None else [],
    )


def summarize_state(
    run_id: str,
    values: dict[str, Any],
    nxt: list[str],
    interrupts: list[Any],
    records: dict[str, list[LevelRecord]],
    checkpoints: dict[tuple[str, int], str],
    meta: dict[str, Any],
    usage: dict[str, Any],
    seeds: list[str] | None = None,
) -> dict[str, Any]:
    """The summary from plain JSON: a thread's values, next nodes and interrupt values, its
    level records (``read_levels``) and level checkpoints (``branch_levels``)."""
    # approval gate (a budget stop is an interrupt too, not one to answer)
    pending = [value for value in interrupts if not is_budget_stop(value)]
    closed = values.get("closed")
    records = upto_closed(records, closed)
    prompt_records = records.get("system_prompt", [])
    beam = (values.get("beam") or {}).get("system_prompt", [])
    in_stage2 = values.get("stage") == "system_prompt"
    best_prompt = values.get("best_system_prompt") or (
        beam[0]["candidate"]["text"] if beam and in_stage2 else None
    )
    return {
        "run_id": run_id,
        "status": "finished"
        if values and not nxt
        else ("waiting for approval" if pending else "in progress" if values else "not started"),
        "pending": pending,
        "next": nxt,
        "stage": values.get("stage"),
        "closed": closed,
        "best_system_prompt": best_prompt,
        "best_reward": values.get("best_reward"),
        "icl_examples": values.get("icl_examples", []),
        "icl_report": values.get("icl_report", []),
        "levels": [
            level_row(r, checkpoints.get(("system_prompt", r["level"]))) for r in prompt_records
        ],
        "icl_levels": icl_rows(records.get("icl", []), checkpoints),
        "level_judges": level_judges(records, meta),
        "validation": values.get("validation"),
        "notes": values.get("notes", []),
        "calls": dict(sorted(Counter(values.get("calls", {})).items())),
        "phases": phases(values),
        "budget_stop": values.get("budget_stop"),  # the level a budget stopped the search at
        "stall": values.get("stall"),  # --patience stopped the search (nodes/check.py)
        "progress_checks": (values.get("progress") or {}).get("checks", []),
        "usage": usage,  # model calls made, cache hits, tokens per role
        "provider_errors": meta.get("provider_errors", {}),
        "forked_from": meta.get("forked_from"),
        "seed_order": seeds or [],
        "records": {"system_prompt": prompt_records, "icl": records.get("icl", [])},
    }


async def _seeds(store: Any, run_id: str) -> list[str]:
    try:
        return await read_plan(store, run_id)
    except ValueError:  # not started yet
        return []


def level_judges(
    records: dict[str, list[LevelRecord]], meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """The judge model and node that scored each level, from run.json's model history (a fork's
    levels before the fork: its parent's judge; a server thread without one: None)."""
    history: History = history_of(meta) if meta.get("model_history") or meta.get("context") else {}
    levels = sorted({(stage, r["level"]) for stage, recs in records.items() for r in recs},
                    key=lambda sl: (STAGES.index(sl[0]), sl[1]))  # fmt: skip
    return [{"stage": st, "level": lv, **judge_at(history, st, lv)} for st, lv in levels]


def upto_closed(
    records: dict[str, list[LevelRecord]], closed: dict[str, Any] | None
) -> dict[str, list[LevelRecord]]:
    """The records of the levels this branch has closed: a fork or replay in the same thread
    leaves the store items of the old branch's later levels until it overwrites them."""
    if not closed:
        return {stage: [] for stage in records}
    last = STAGES.index(closed["stage"]), closed["level"]
    return {
        stage: [r for r in recs if (STAGES.index(stage), r["level"]) <= last]
        for stage, recs in records.items()
    }


def phases(values: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The run's calls per role split into search, selection and confirmation, from the marks
    that finish_stage and choose_prompt leave (empty before the search ends)."""
    marks, total = values.get("phase_marks") or {}, Counter(values.get("calls", {}))
    if "search" not in marks:
        return {}
    search = Counter(marks["search"])
    selected = Counter(marks.get("selection") or total)
    split = {"search": search, "selection": selected - search, "confirmation": total - selected}
    return {phase: dict(sorted(c.items())) for phase, c in split.items()}


def describe_phases(split: dict[str, dict[str, int]]) -> str:
    """``search N; selection M; confirmation K`` (model calls per phase)."""
    return "; ".join(f"{phase} {model_calls(calls)}" for phase, calls in split.items())
