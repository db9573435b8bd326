"""JSON views of a run for the inspector, built from ``drpo.runtime.summary.summarize_state`` (what
`drpo show --json` prints), which both backends feed: ``drpo ui`` from the run's SQLite
checkpoints and store, the LangGraph server from its thread, history and store API."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drpo.core.config import RunConfig
from drpo.core.context import ROLES
from drpo.core.state import STAGES
from drpo.runtime.runner import RunError
from drpo.web.policy import RequestPolicy


class ForkRequest(BaseModel):
    """The page's "fork from here": a level of either stage, the judge, optional W/M/D."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stage: str = Field(max_length=32)
    level: int = Field(ge=0, le=100_000)
    judge_model: str = Field(min_length=1, max_length=1000)
    judge_node: str = Field(default="dynamic", min_length=1, max_length=200)
    W: int | None = Field(default=None, ge=1, le=1000)
    M: int | None = Field(default=None, ge=1, le=1000)
    D: int | None = Field(default=None, ge=1, le=1000)


def inspect_view(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary plus what the page draws: one row per level of either stage (best and beam
    rewards, aspects, checkpoint), the last closed level and the best prompt's last change."""
    closed = summary.get("closed") or {}
    table = level_table(summary)
    bests = [r["best_text"] for r in table if r["stage"] == "system_prompt" and r["best_text"]]
    best = summary.get("best_system_prompt")
    previous = next((t for t in reversed(bests) if t != best), None) if best else None
    reward = summary.get("best_reward")
    if reward is None:  # before validation: the last stage-2 level's best
        reward = next((r["best_reward"] for r in reversed(table) if r["stage"] != "icl"), None)
    return {
        **summary,
        "level": closed.get("level") if closed.get("stage") == summary.get("stage") else None,
        "best_reward": reward,
        "level_table": table,
        "previous_best_prompt": previous,
        "diff": word_diff(previous or "", best or "") if best else [],
    }


def level_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage 1's levels (best = the mean over examples of each track's best), then stage 2's."""
    rows: list[dict[str, Any]] = []
    icl_aspects: dict[int, list[str]] = {}
    for record in summary["records"]["icl"]:
        names = icl_aspects.setdefault(record["level"], [])
        for aspects in (record.get("aspects") or {}).values():
            names.extend(a for a in aspects if a not in names)
    for row in summary["icl_levels"]:
        beam = [m for b in row["beams"] for m in b["beam"]]
        rows.append(_row("icl", row, row["mean_best_reward"], beam, icl_aspects.get(row["level"])))
    for row in summary["levels"]:
        chosen: list[str] = []
        for aspects in row["aspects"].values():
            chosen.extend(a for a in aspects if a not in chosen)
        rows.append(_row("system_prompt", row, row["best_reward"], row["beam"], chosen))
    return rows


def _row(
    stage: str, row: dict[str, Any], best: float | None, beam: list[dict[str, Any]], aspects: Any
) -> dict[str, Any]:
    return {
        "stage": stage,
        "level": row["level"],
        "best_reward": best,
        "beam_rewards": [m["reward"] for m in beam],
        "best_text": beam[0]["text"] if beam and stage == "system_prompt" else None,
        "aspects": list(aspects or []),
        "checkpoint_id": row["checkpoint_id"],
    }


def run_row(run_id: str, created: Any, summary: dict[str, Any], beam: Any) -> dict[str, Any]:
    """A line of the run list, from a summary without records (cheap) and the state's beams."""
    closed = summary.get("closed") or {}
    top = (beam or {}).get("system_prompt") or []
    best = summary.get("best_reward")
    return {
        "run_id": run_id,
        "created": created,
        "status": summary["status"],
        "stage": summary["stage"],
        "level": closed.get("level") if closed.get("stage") == summary["stage"] else None,
        "best_reward": best if best is not None else (top[0]["reward"] if top else None),
    }


def fork_config(
    config: dict[str, Any], W: int | None, M: int | None, D: int | None
) -> dict[str, Any]:
    """The run config with stage 2's W/M/D replaced (like `drpo fork -W -M -D`), validated."""
    changes = {"W": W, "M": M, "D": D}
    return RunConfig.model_validate(config).with_overrides(system_prompt=changes).model_dump()


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
    """One checkpoint of the thread: where it stands and whether a replay can start there."""
    nxt = list(checkpoint.get("next") or [])
    closed = checkpoint.get("closed")
    return {
        "checkpoint_id": checkpoint["checkpoint_id"],
        "step": checkpoint.get("step"),
        "source": checkpoint.get("source"),
        "created_at": checkpoint.get("created_at"),
        "next": nxt,
        "closed": f"{closed['stage']} level {closed['level']}" if closed else None,
        "can_replay": bool(nxt),
    }


def check_fork(fork: ForkRequest, policy: RequestPolicy, context: dict[str, Any]) -> None:
    """A bad stage, judge spec or judge node: one clear error before anything is written. The
    judge node and model are looked up in what the server and the run (``context``, the
    parent's) already know: a request never imports code or names a file or a new URL."""
    if fork.stage not in STAGES:
        raise RunError(f"unknown stage {fork.stage!r}; choose one of {', '.join(STAGES)}")
    specs = [str(context.get(f"{role}_model")) for role in ROLES]
    policy.model_spec(fork.judge_model, specs)
    policy.judge_node(fork.judge_node, [str(context.get("judge_node"))])
