"""Which model ran each role, and from where: run.json keeps a history per role, one entry per
model with the stage and level its calls start from (a resume may switch models mid-run). The
judge node (dynamic, holistic, module:function) is kept the same way, as ``judge_node``: with the
judge model it says what scored each level. A fork's history is its parent's up to the fork
level, then the fork's own models (``forked_history``)."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from typing import Any

from drpo.core.context import ROLES, Context
from drpo.core.state import STAGES

History = dict[str, list[dict[str, Any]]]
START = {"stage": "icl", "level": 0}
TRACKED = (*ROLES, "judge_node")  # the model roles, and the judge node


def _value(context: Context | dict[str, Any], key: str) -> str:
    name = key if key == "judge_node" else f"{key}_model"
    if isinstance(context, dict):
        return str(context.get(name, asdict(Context())[name]))
    return str(getattr(context, name))


def _order(point: dict[str, Any]) -> tuple[int, int]:
    return STAGES.index(point["stage"]), int(point["level"])


def initial_history(context: Context) -> History:
    return {key: [{"model": _value(context, key), "from": dict(START)}] for key in TRACKED}


def history_of(meta: dict[str, Any]) -> History:
    """run.json's model history (derived from its context for runs made before it existed)."""
    history = meta.get("model_history")
    context = meta.get("context") or {}
    if isinstance(history, dict) and history:
        history = copy.deepcopy(history)
        for key in TRACKED:  # a run made before the judge node was kept
            history.setdefault(key, [{"model": _value(context, key), "from": dict(START)}])
        return history
    return {key: [{"model": _value(context, key), "from": dict(START)}] for key in TRACKED}


def record_switches(meta: dict[str, Any], context: Context, start: dict[str, Any]) -> History:
    """The history with a new entry for every role whose model differs from its last one."""
    history = history_of(meta)
    for key in TRACKED:
        spec = _value(context, key)
        rows = history.setdefault(key, [])
        if not rows or rows[-1]["model"] != spec:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            rows.append({"model": spec, "from": dict(start or START), "at": at})
    return history


def forked_history(
    parent: History, context: Context, after: dict[str, Any], start: dict[str, Any]
) -> History:
    """A fork's history: the parent's entries that ran up to the fork level ``after`` (a later
    switch of the parent's is not the fork's), then the fork's models from ``start``, the first
    level it computes."""
    kept = {
        key: [row for row in rows if _order(row["from"]) <= _order(after)]
        for key, rows in parent.items()
    }
    return record_switches({"model_history": kept}, context, start)


def judge_label(judge: str | None, judge_node: str | None) -> str:
    """One judge, as the search compares rewards by it: the model spec and a non-default node."""
    return f"{judge}" if judge_node in (None, "dynamic") else f"{judge} [{judge_node} judge]"


def judge_at(history: History, stage: str, level: int) -> dict[str, str | None]:
    """The judge model and judge node that scored a level: each one's last entry from there
    or before."""
    here = _order({"stage": stage, "level": level})
    out: dict[str, str | None] = {}
    for key in ("judge", "judge_node"):
        rows = [r for r in history.get(key, []) if _order(r["from"]) <= here]
        out[key] = rows[-1]["model"] if rows else None
    return out


def resume_point(result: dict[str, Any]) -> dict[str, Any]:
    """The first stage and level a resume computes, from a run's summary: levels are recorded
    when they complete, so the next one is where new calls start."""
    levels = result.get("levels") or []
    if levels:
        return {"stage": "system_prompt", "level": max(r["level"] for r in levels) + 1}
    if result.get("icl_examples"):
        return {"stage": "system_prompt", "level": 0}
    rows = result.get("icl_levels") or []
    if not rows:
        return dict(START)
    tracks = max(r["tracks"] for r in rows)  # a level is complete once every track has it
    partial = [r["level"] for r in rows if r["tracks"] < tracks]
    return {"stage": "icl", "level": min(partial) if partial else max(r["level"] for r in rows) + 1}


def describe(history: History) -> list[str]:
    """Lines for `drpo show`: each role's models, from where."""
    lines = []
    for role, rows in history.items():
        parts = [
            f"{r['model']} (from {r['from']['stage']} level {r['from']['level']})" for r in rows
        ]
        lines.append(f"  {role}: " + ", then ".join(parts))
    return lines
