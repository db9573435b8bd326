"""begin_stage: s_0 of every track of the current stage, at level 0.

Stage 1 (Alg. 1) has one track per base ICL example, s_0 = its base response b_i; stage 2
(Alg. 2) has one track, s_0 = the initial system prompt P.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Overwrite

from drpo.core.state import Candidate, DRPOState, Track, config_of


def root_id(track: str) -> str:
    return f"{track}:L00"


def stage_tracks(state: DRPOState) -> dict[str, Track]:
    if state["stage"] == "icl":
        return {
            f"icl/{i:02d}": {"query": e["query"], "initial": e["response"]}
            for i, e in enumerate(state["icl_base"])
        }
    initial = config_of(state["config"]).system_prompt.initial_prompt
    return {"system_prompt": {"initial": initial}}


async def begin_stage(state: DRPOState) -> dict[str, Any]:
    tracks = stage_tracks(state)
    roots: list[Candidate] = [
        {
            "id": root_id(name),
            "track": name,
            "level": 0,
            "parent": None,
            "text": track["initial"],
            "analysis": "",
            "thought": "",
        }
        for name, track in sorted(tracks.items())
    ]
    return {
        "icl_base": [],  # the tracks hold what stage 1 needs; checkpoints stay small
        "tracks": tracks,
        "level": 0,
        "frontier": roots,
        "beam": {},
        "best": {},
        "done_tracks": [],
        "proposals": Overwrite([]),
        "evaluations": Overwrite([]),
    }
