"""init_beam: s_0 of every track (the base response b_i, or the initial system prompt P)."""

from __future__ import annotations

from typing import Any

from drpo.state import Candidate, SearchState


def root_id(track: str) -> str:
    return f"{track}:L00"


async def init_beam(state: SearchState) -> dict[str, Any]:
    roots: list[Candidate] = [
        {
            "id": root_id(name),
            "track": name,
            "level": 0,
            "parent": None,
            "text": track["initial"],
            "former": [],
            "analysis": "",
            "thought": "",
        }
        for name, track in sorted(state["tracks"].items())
    ]
    return {"level": 0, "frontier": roots, "beam": {}}
