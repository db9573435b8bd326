"""drop_duplicates: joins a level's transitions and keeps each distinct new state once.

A proposal equal to another of its level, or to a state already in its track's beam, is
dropped before it costs a generation or a judge call.
"""

from __future__ import annotations

from typing import Any

from drpo.core.state import Candidate, DRPOState, candidate_of, text_key


async def drop_duplicates(state: DRPOState) -> dict[str, Any]:
    level = state["level"]
    seen = {
        (track, text_key(member["candidate"]["text"]))
        for track, members in state.get("beam", {}).items()
        for member in members
    }
    kept: list[Candidate] = []
    for proposal in sorted(state.get("proposals", []), key=lambda p: p["id"]):
        key = (proposal["track"], text_key(proposal["text"]))
        if proposal["level"] == level and key not in seen:
            seen.add(key)
            kept.append(candidate_of(proposal))  # the optimizer's reasoning stays behind
    return {"frontier": kept}
