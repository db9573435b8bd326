"""The progress lines of a run, each read from a checkpoint as the run streams them: one after
each level (its prune_beam), one after each rung of the race and each look of the sequential
confirmation, with the calls so far split into search, selection and confirmation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drpo.runtime.summary import describe_phases, phases

Progress = Callable[[str], None]


def level_line(values: dict[str, Any], elapsed: float) -> str:
    """After a level: its best reward and the run's calls so far (cache hits included, as the
    state counts them)."""
    closed, beam = values["closed"], values.get("beam") or {}
    rewards = [members[0]["reward"] for members in beam.values() if members]
    best = f"{max(rewards):.2f}" if rewards else "-"
    made = ", ".join(f"{k} {v}" for k, v in sorted((values.get("calls") or {}).items()))
    return (
        f"[{elapsed:6.1f}s] {closed['stage']} level {closed['level']}: {len(beam)} track(s), "
        f"best reward {best}; calls so far: {made}"
    )


ROUNDS: tuple[list[str], ...] = (["prepare_validation"], ["prepare_confirmation"], [])


def selection_line(values: dict[str, Any], nxt: list[str], elapsed: float) -> str | None:
    """At the checkpoint after a rung, a look or the final choice (``nxt``: its next nodes):
    where the selection stands; None at any other checkpoint."""
    if nxt not in ROUNDS or not values.get("phase_marks"):
        return None
    race, looks, v = values.get("race") or {}, values.get("looks") or {}, values.get("validation")
    spent = describe_phases(phases(values))
    if v and v.get("rule"):
        what = f"P* is {v['chosen']['source']} ({v['rule']})"
    elif looks.get("rewards"):
        n = len(next(iter(looks["rewards"].values())))
        what = f"confirmation: no decision after {n} fresh queries, looking again"
    elif v:
        what = f"the race chose {v['top']['source']}; the confirmation on fresh queries comes next"
    elif len(race.get("alive") or []) > 1:
        what = f"race rung {race['rung'] - 1} done: {len(race['alive'])} prompts go on"
    else:
        return None
    return f"[{elapsed:6.1f}s] selection: {what}; calls by phase: {spent}"
