"""Which model ran each role, and from where: run.json keeps a history per role, one entry per
model with the stage and level its calls start from (a resume may switch models mid-run)."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from typing import Any

from drpo.core.context import ROLES, Context

History = dict[str, list[dict[str, Any]]]
START = {"stage": "icl", "level": 0}


def initial_history(context: Context) -> History:
    return {
        role: [{"model": getattr(context, f"{role}_model"), "from": dict(START)}] for role in ROLES
    }


def history_of(meta: dict[str, Any]) -> History:
    """run.json's model history (derived from its context for runs made before it existed)."""
    history = meta.get("model_history")
    if isinstance(history, dict) and history:
        return copy.deepcopy(history)
    context = meta.get("context") or {}
    defaults = asdict(Context())
    return {
        role: [{"model": context.get(f"{role}_model", defaults[f"{role}_model"]), "from": START}]
        for role in ROLES
    }


def record_switches(meta: dict[str, Any], context: Context, start: dict[str, Any]) -> History:
    """The history with a new entry for every role whose model differs from its last one."""
    history = history_of(meta)
    for role in ROLES:
        spec = getattr(context, f"{role}_model")
        rows = history.setdefault(role, [])
        if not rows or rows[-1]["model"] != spec:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            rows.append({"model": spec, "from": dict(start or START), "at": at})
    return history


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
