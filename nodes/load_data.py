"""load_data: validate the run config, load I_base and X and record the shuffled seed order.
Given optimized ICL examples (--icl-from), stage 1 is skipped."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from drpo.config import Context, RunConfig
from drpo.data import load_icl, load_seeds, shuffled
from drpo.plan import validation_count
from drpo.state import DRPOInput


async def load_data(state: DRPOInput, runtime: Runtime[Context]) -> dict[str, Any]:
    config = RunConfig.model_validate(state.get("config") or {})
    icl = load_icl(config.icl_path)[: config.icl.n]
    given = state.get("icl_examples")
    pool = len(given) if given is not None else len(icl)
    if pool < config.system_prompt.K:
        raise ValueError(f"K={config.system_prompt.K} is larger than the ICL pool ({pool})")
    stage2 = config.system_prompt
    seeds = shuffled(load_seeds(config.seed_dir), stage2.shuffle_seed, stage2.seeds)
    validation_count(config, len(seeds))  # an explicit --validation N the seeds cannot serve
    out: dict[str, Any] = {
        "config": config.model_dump(),
        "icl_base": icl,
        "seed_order": seeds,
        "stage": "icl",
        "notes": [],
    }
    if given is not None:  # --icl-from: reuse an optimized ICL set
        out.update(stage="system_prompt", icl_base=[], icl_examples=list(given))
    return out
