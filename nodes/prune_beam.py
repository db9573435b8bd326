"""prune_beam: joins a level and keeps the top W states by their own reward at this level.

A candidate's reward is the mean over the level's queries it was scored on (B of them). Ties
keep the earlier candidate. A track whose proposals were all duplicates keeps its beam.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import Any

from langgraph.types import Overwrite

from drpo.config import RunConfig
from drpo.state import Evaluation, LevelRecord, Scored, SearchState


def beam_width(state: SearchState) -> int:
    config = RunConfig.model_validate(state["config"])
    return config.icl.W if state["stage"] == "icl" else config.system_prompt.W


async def prune_beam(state: SearchState) -> dict[str, Any]:
    level, width = state["level"], beam_width(state)
    by_candidate: dict[str, list[Evaluation]] = defaultdict(list)
    for ev in state.get("evaluations", []):
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
    proposed = [p for p in state.get("proposals", []) if p["level"] == level]
    beam = dict(state.get("beam", {}))
    records: list[LevelRecord] = []
    for track in sorted(state["tracks"]):
        ranked = sorted(by_track.get(track, []), key=lambda s: (-s["reward"], s["candidate"]["id"]))
        if ranked:
            beam[track] = ranked[:width]
        kept = {s["candidate"]["id"] for s in beam.get(track, [])}
        records.append(
            {
                "stage": state["stage"],
                "track": track,
                "level": level,
                "queries": sorted({e["query"] for s in ranked for e in s["evaluations"]}),
                "candidates": [_summary(s, s["candidate"]["id"] in kept) for s in ranked],
                # level 0 scores the initial state, which is no proposal
                "dropped_duplicates": max(
                    0, sum(p["track"] == track for p in proposed) - len(ranked)
                ),
                "best_reward": ranked[0]["reward"] if ranked else None,
            }
        )
    return {
        "beam": beam,
        "levels": records,
        "level": level + 1,
        "proposals": Overwrite([]),
        "evaluations": Overwrite([]),
        "frontier": [],
    }


def _summary(scored: Scored, kept: bool) -> dict[str, Any]:
    candidate = scored["candidate"]
    return {
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
