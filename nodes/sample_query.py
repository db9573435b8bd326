"""sample_query: the level's seed queries x_t (Alg. 2), from the recorded shuffled order.

With B = 1 (the paper) level t uses X[t]; with B > 1 every candidate of the level is scored
on the same minibatch X[t*B : (t+1)*B]. The order wraps around when levels outnumber seeds.
"""

from __future__ import annotations

from typing import Any

from drpo.config import RunConfig
from drpo.state import SearchState


async def sample_query(state: SearchState) -> dict[str, Any]:
    order = state["seed_order"]
    batch = RunConfig.model_validate(state["config"]).system_prompt.B
    start = state.get("level", 0) * batch
    queries = [order[(start + i) % len(order)] for i in range(batch)]
    return {"level_queries": list(dict.fromkeys(queries))}
