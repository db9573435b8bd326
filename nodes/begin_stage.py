"""begin_stage: s_0 of every track of the current stage, at level 0 (the stage spec's tracks,
nodes/stages.py): stage 1 (Alg. 1) has one track per base ICL example, s_0 = its base response
b_i; stage 2 (Alg. 2) has one track, s_0 = the initial system prompt P.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Overwrite

from drpo.core.state import DRPOState, make_candidate
from nodes.stages import spec_of


def root_id(track: str) -> str:
    return f"{track}:L00"


async def begin_stage(state: DRPOState) -> dict[str, Any]:
    tracks = spec_of(state).tracks(state)
    roots = [
        make_candidate(root_id(name), name, 0, None, track["initial"])
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
