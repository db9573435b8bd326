"""A round of scoring: what a level, a validation rung, a confirmation look and a --patience
check share. Each names its queries and the candidates to score (the frontier); the round's
aspects R_q come from the store (selected up front for a level's queries, when the round comes
for the others: ``nodes/select_aspects.py``); then retrieve_icl fetches each query's ICL
examples and the router sends generate -> judge for every (candidate, query)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.state import Candidate, Stage
from nodes.select_aspects import lookup_aspects


async def scoring_round(
    runtime: Runtime[Context],
    config: RunConfig,
    stage: Stage,
    queries: list[str],
    frontier: list[Candidate] | None = None,
    up_front: bool = True,
) -> dict[str, Any]:
    """The state update that opens a round on ``queries``: with a ``frontier``, the candidates
    it scores (a level's come from its transitions); the verdicts of an earlier round cleared."""
    aspects, calls = await lookup_aspects(runtime, config, stage, queries, up_front=up_front)
    update: dict[str, Any] = {"level_queries": queries, "level_aspects": aspects, "calls": calls}
    if frontier is not None:
        update.update(frontier=frontier, evaluations=Overwrite([]))
    return update
