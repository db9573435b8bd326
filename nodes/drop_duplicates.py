"""drop_duplicates: joins a level's transitions and keeps each distinct new state once.

A proposal equal to another of its level, or to a state already in its track's beam, is
dropped before it costs a generation or a judge call.
"""

from __future__ import annotations

from typing import Any

from drpo.core.state import Candidate, DRPOState


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


async def drop_duplicates(state: DRPOState) -> dict[str, Any]:
    level = state["level"]
    seen = {
        (track, _norm(member["candidate"]["text"]))
        for track, members in state.get("beam", {}).items()
        for member in members
    }
    kept: list[Candidate] = []
    for proposal in sorted(state.get("proposals", []), key=lambda p: p["id"]):
        key = (proposal["track"], _norm(proposal["text"]))
        if proposal["level"] == level and key not in seen:
            seen.add(key)
            kept.append(proposal)
    return {"frontier": kept}
