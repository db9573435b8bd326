"""JSON views of a run for the inspector, built from a thread state in plain JSON form
(``values``, ``next``, ``tasks`` with ``interrupts`` and the running stage's ``state``), which
both the SQLite checkpoints of ``drpo ui`` and the LangGraph server's thread API provide."""

from __future__ import annotations

import difflib
import re
from typing import Any

STAGE_OF_NODE = {"optimize_icl": "icl", "optimize_system_prompt": "system_prompt"}
# the run graph is a line: the node that produced the checkpoint before each next node
PREVIOUS_NODE = {
    "optimize_icl": "load_data",
    "optimize_system_prompt": "optimize_icl",
}


def summarize(state: dict[str, Any]) -> dict[str, Any]:
    """Status, current stage and level, level records, best prompt and its last change."""
    values: dict[str, Any] = state.get("values") or {}
    nxt: list[str] = list(state.get("next") or [])
    tasks: list[dict[str, Any]] = state.get("tasks") or []
    pending = [i.get("value") for t in tasks for i in (t.get("interrupts") or [])]
    stage_values: dict[str, Any] = {}
    stage_next: list[str] = []
    for task in tasks:
        sub = task.get("state")
        if isinstance(sub, dict) and sub.get("values"):
            stage_values, stage_next = sub["values"], list(sub.get("next") or [])
    running = stage_values.get("stage")
    icl = values.get("icl_levels") or (stage_values.get("levels", []) if running == "icl" else [])
    prompt = values.get("levels") or (
        stage_values.get("levels", []) if running == "system_prompt" else []
    )
    calls = dict(values.get("calls") or {})
    for role, n in (stage_values.get("calls") or {}).items():
        calls[role] = calls.get(role, 0) + n
    stage = STAGE_OF_NODE.get(nxt[0], nxt[0]) if nxt else ("done" if values else "not started")
    current = {"icl": icl, "system_prompt": prompt}.get(stage) or []
    level = max((r["level"] for r in current), default=None)  # the last finished level
    bests = _level_bests(prompt)
    beam = (stage_values.get("beam") or {}).get("system_prompt") or []
    best = values.get("best_system_prompt") or (beam[0]["candidate"]["text"] if beam else None)
    previous = next((t for t in reversed(bests) if t != best), None) if best else None
    return {
        "status": "waiting for approval"
        if pending
        else ("finished" if values and not nxt else "in progress" if values else "not started"),
        "next": nxt,
        "stage": stage,
        "level": level,
        "stage_next": stage_next,
        "pending": pending,
        "best_system_prompt": best,
        "best_reward": values.get("best_reward", _last_best(prompt)),
        "previous_best_prompt": previous,
        "diff": word_diff(previous or "", best or "") if best else [],
        "icl_examples": values.get("icl_examples", []),
        "records": {"icl": icl, "system_prompt": prompt},
        "calls": dict(sorted(calls.items())),
        "config": values.get("config"),
    }


def _last_best(records: list[dict[str, Any]]) -> float | None:
    done = [r for r in records if r["best_reward"] is not None]
    return max(done, key=lambda r: r["level"])["best_reward"] if done else None


def _level_bests(records: list[dict[str, Any]]) -> list[str]:
    """The best candidate's text at each stage-2 level, in level order."""
    out = []
    for record in sorted(records, key=lambda r: r["level"]):
        ranked = sorted(record["candidates"], key=lambda c: (-c["reward"], c["id"]))
        if ranked:
            out.append(ranked[0]["text"])
    return out


def word_diff(old: str, new: str) -> list[list[str]]:
    """Word-level diff as [op, text] with op in '=', '-', '+'."""
    a, b = re.findall(r"\S+|\s+", old), re.findall(r"\S+|\s+", new)
    ops: list[list[str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(["=", "".join(a[i1:i2])])
            continue
        if i2 > i1:
            ops.append(["-", "".join(a[i1:i2])])
        if j2 > j1:
            ops.append(["+", "".join(b[j1:j2])])
    return ops


def history_row(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """One parent-graph checkpoint: where it stands and whether a replay or fork can start there."""
    nxt = list(checkpoint.get("next") or [])
    return {
        "checkpoint_id": checkpoint["checkpoint_id"],
        "step": checkpoint.get("step"),
        "source": checkpoint.get("source"),
        "created_at": checkpoint.get("created_at"),
        "next": nxt,
        "can_replay": bool(nxt),
    }


def fork_seed(next_nodes: list[str]) -> str | None:
    """``as_node`` for ``update_state`` that makes a new thread continue at ``next_nodes``
    (None: start over from the input)."""
    return PREVIOUS_NODE.get(next_nodes[0]) if next_nodes else None
