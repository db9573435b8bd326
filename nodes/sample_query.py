"""sample_query: the queries level t scores on (the stage spec: each live track's own query in
stage 1; the seed queries x_t of the recorded shuffled order in stage 2, ``drpo.core.plan``) and
their aspects R_q, selected up front by select_aspects (a fork's new queries here, on the spot)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from drpo.core.context import Context
from drpo.core.state import DRPOState, config_of
from nodes.rounds import scoring_round
from nodes.stages import spec_of


async def sample_query(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    spec = spec_of(state)
    queries = await spec.queries(state, runtime)
    return await scoring_round(runtime, config_of(state["config"]), spec.name, queries)
