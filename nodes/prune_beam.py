"""prune_beam: joins a level and keeps the top W states by their own reward at this level.

A candidate's reward is the mean over the level's queries it was scored on (B of them). Ties
are broken by a hash of the run seed and the candidate id (fair, reproducible), not by slot.
A track whose proposals were all duplicates keeps its beam. Stage 1 (its spec, nodes/stages.py)
also keeps each track's best state across levels (all scored on the same query and aspects, so
rewards compare) and stops a track once every aspect of its best scores 5. A best is marked with
the judge that scored it: after a switch of judge (a resume or fork with another --judge or
--judge-node) rewards of two judges never compare: the first level the new judge scores replaces
each track's best (and a track stopped on the old judge's 5s goes on). The level's record and
the kept states' lineages go to the store once (``drpo.core.records``); the state keeps only the
beams.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.context import Context
from drpo.core.provenance import judge_label
from drpo.core.records import read_former, require_store, thread_of, write_level, write_lineage
from drpo.core.state import DRPOState, Evaluation, LevelRecord, Scored, config_of, seeded_hash
from nodes.budget_stop import budget_stop
from nodes.stages import spec_of

MAX_SCORE = 5.0


def rank(scored: list[Scored], seed: int) -> list[Scored]:
    return sorted(scored, key=lambda s: (-s["reward"], seeded_hash(seed, s["candidate"]["id"])))


def all_max(scored: Scored) -> bool:
    return all(
        float(s["score"]) >= MAX_SCORE for e in scored["evaluations"] for s in e["scores"].values()
    )


def score_level(evaluations: list[Evaluation], level: int) -> dict[str, list[Scored]]:
    """The level's candidates with their evaluations and mean reward, by track."""
    by_candidate: dict[str, list[Evaluation]] = defaultdict(list)
    for ev in evaluations:
        if ev["candidate"]["level"] == level:
            by_candidate[ev["candidate"]["id"]].append(ev)
    by_track: dict[str, list[Scored]] = defaultdict(list)
    for evs in by_candidate.values():
        evs.sort(key=lambda e: e["query"])
        scored: Scored = {
            "candidate": evs[0]["candidate"],
            "evaluations": evs,
            "reward": fmean(e["reward"] for e in evs),
        }
        by_track[scored["candidate"]["track"]].append(scored)
    return by_track


async def prune_beam(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config, spec = config_of(state["config"]), spec_of(state)
    stage, level = state["stage"], state["level"]
    width = spec.params(config).W
    by_track = score_level(state.get("evaluations", []), level)
    proposed = [p for p in state.get("proposals", []) if p["level"] == level]
    old_beam = state.get("beam", {})
    beam, best = dict(old_beam), dict(state.get("best", {}))
    done = list(state.get("done_tracks", []))
    records: list[LevelRecord] = []
    judge = judge_label(runtime.context.judge_model, runtime.context.judge_node)
    for track in sorted(state["tracks"]):
        ranked = rank(by_track.get(track, []), config.seed)
        stale = track in best and _judge(best[track], judge) != judge  # another judge's reward
        if ranked:
            beam[track] = ranked[:width]
            better = track not in best or stale or ranked[0]["reward"] > best[track]["reward"]
            if spec.keeps_best and better:
                best[track] = cast(Scored, {**ranked[0], "judge": judge})
                stale = False
        if stale and track in done:
            done.remove(track)  # stopped on the old judge's 5s: the new judge scores it on
        stop = spec.stops_tracks(config) and track not in done and not stale
        if stop and track in best and all_max(best[track]):
            done.append(track)
        kept = {s["candidate"]["id"] for s in beam.get(track, [])}
        records.append(_record(state, track, ranked, kept, beam.get(track, []), proposed))
    store = require_store(runtime.store)
    thread = thread_of(runtime)
    await write_level(store, thread, stage, level, records)
    update: dict[str, Any] = {}
    if spec.searches_prompts:
        await _lineages(store, thread, level, beam, old_beam)
        if level < spec.params(config).D:
            update["budget_stop"] = await budget_stop(state, runtime, config, level)
    return {
        **update,
        "beam": beam,
        "best": best,
        "done_tracks": sorted(done),
        "closed": {"stage": stage, "level": level},
        "level": level + 1,
        "proposals": Overwrite([]),
        "evaluations": Overwrite([]),
        "frontier": [],
    }


def _judge(kept: Scored, default: str) -> str:
    """The judge that scored a kept best (unmarked, from before the marks: the current one)."""
    return str(cast(dict[str, Any], kept).get("judge", default))


async def _lineages(
    store: Any, thread: str, level: int, beam: dict[str, list[Scored]], old: dict[str, list[Scored]]
) -> None:
    """Former prompts of each newly kept state: its parent's former prompts and the parent."""
    for track, members in beam.items():
        parents = {s["candidate"]["id"]: s["candidate"] for s in old.get(track, [])}
        for member in members:
            cand = member["candidate"]
            if cand["level"] != level:
                continue  # kept from an earlier level (all proposals were duplicates)
            parent = parents.get(cand["parent"] or "")
            former = (
                [*await read_former(store, thread, parent["id"]), parent["text"]] if parent else []
            )
            await write_lineage(store, thread, "system_prompt", level, cand["id"], former)


def _record(
    state: DRPOState,
    track: str,
    ranked: list[Scored],
    kept: set[str],
    beam: list[Scored],
    proposed: list[Any],
) -> LevelRecord:
    queries = sorted({e["query"] for s in ranked for e in s["evaluations"]})
    reasons = {p["id"]: {"analysis": p["analysis"], "thought": p["thought"]} for p in proposed}
    aspects = state.get("level_aspects", {})
    return {
        "stage": state["stage"],
        "track": track,
        "level": state["level"],
        "queries": queries,
        "aspects": {q: list(aspects[q]["aspects"]) for q in queries if q in aspects},
        "candidates": [_summary(s, s["candidate"]["id"] in kept, reasons) for s in ranked],
        "beam": [
            {"id": s["candidate"]["id"], "text": s["candidate"]["text"], "reward": s["reward"]}
            for s in beam
        ],
        # level 0 scores the initial state, which is no proposal
        "dropped_duplicates": max(0, sum(p["track"] == track for p in proposed) - len(ranked)),
        "best_reward": ranked[0]["reward"] if ranked else None,
    }


def _summary(scored: Scored, kept: bool, reasons: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A candidate of the level's record; a proposal's with the optimizer's analysis and
    thought (written once, here)."""
    candidate = scored["candidate"]
    return {
        **reasons.get(candidate["id"], {}),
        "id": candidate["id"],
        "parent": candidate["parent"],
        "text": candidate["text"],
        "reward": scored["reward"],
        "kept": kept,
        "evaluations": [
            {
                "query": e["query"],
                "output": e["output"],
                "scores": e["scores"],
                "reward": e["reward"],
            }
            for e in scored["evaluations"]
        ],
    }
