"""review_best: the optional human approval gate after prune_beam (Context ``approve``).

``interrupt()`` shows the best candidate of the level; the answer resumes the graph with
``Command(resume={"action": "approve" | "edit" | "reject", "text": ...})``:
approve keeps the beam, edit replaces the best prompt's text (its reward stays the judged one and
it is marked as edited), reject drops it from the beam (a beam left empty falls back to the
rejected candidate's parent, as judged at the level before).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.types import interrupt

from drpo.core.context import Context
from drpo.core.records import (
    LEVELS,
    level_key,
    read_former,
    require_store,
    thread_of,
    write_lineage,
)
from drpo.core.schemas import ApprovalAnswer
from drpo.core.state import DRPOState, Evaluation, Scored, make_candidate

TRACK = "system_prompt"


def approval_request(state: DRPOState) -> dict[str, Any]:
    """What the reviewer sees: the level and the beam, best first."""
    beam = state["beam"][TRACK]
    return {
        "kind": "approval",
        "stage": "system_prompt",
        "level": state["level"] - 1,
        "best": _public(beam[0]),
        "beam": [_public(s) for s in beam],
        "actions": ["approve", "edit", "reject"],
    }


async def review_best(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    answer = ApprovalAnswer.model_validate(interrupt(approval_request(state)))
    beam = list(state["beam"][TRACK])
    best = beam[0]
    if answer.action == "approve":
        return {}
    store, thread = require_store(runtime.store), thread_of(runtime)
    if answer.action == "edit":
        c = best["candidate"]
        text = (answer.text or "").strip()
        edited = make_candidate(c["id"] + "+edit", c["track"], c["level"], c["parent"], text)
        beam[0] = {**best, "candidate": edited}
        former = await read_former(store, thread, best["candidate"]["id"])
        await write_lineage(store, thread, TRACK, edited["level"], edited["id"], former)
    else:
        beam = beam[1:] or [await _parent(best, store, thread)]
    return {"beam": {**state["beam"], TRACK: beam}}


def _public(scored: Scored) -> dict[str, Any]:
    c = scored["candidate"]
    return {"id": c["id"], "parent": c["parent"], "text": c["text"], "reward": scored["reward"]}


async def _parent(rejected: Scored, store: BaseStore, thread: str) -> Scored:
    """The rejected candidate's parent as scored at its own level (from the level records)."""
    cand = rejected["candidate"]
    item = await store.aget(
        (LEVELS, thread), level_key(TRACK, cand["level"] - 1), refresh_ttl=False
    )
    rows = [
        row for record in (item.value["tracks"] if item else []) for row in record["candidates"]
    ]
    for row in rows:
        if row["id"] == cand["parent"]:
            level = cand["level"] - 1
            parent = make_candidate(row["id"], cand["track"], level, row["parent"], row["text"])
            evaluations: list[Evaluation] = [
                {
                    "candidate": parent,
                    "query": e["query"],
                    "output": e["output"],
                    "scores": e["scores"],
                    "reward": e["reward"],
                }
                for e in row["evaluations"]
            ]
            return {"candidate": parent, "evaluations": evaluations, "reward": row["reward"]}
    raise ValueError(f"cannot reject {cand['id']}: its parent is not in the level records")
