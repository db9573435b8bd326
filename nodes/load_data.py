"""load_data: validate the run config, load I_base and X, and record the shuffled seed order."""

from __future__ import annotations

from typing import Any

from drpo.config import RunConfig
from drpo.data import load_icl, load_seeds, shuffled
from drpo.state import DRPOInput


async def load_data(state: DRPOInput) -> dict[str, Any]:
    config = RunConfig.model_validate(state.get("config") or {})
    icl = load_icl(config.icl_path)[: config.icl.n]
    if len(icl) < config.system_prompt.K:
        raise ValueError(f"K={config.system_prompt.K} is larger than the ICL pool ({len(icl)})")
    stage2 = config.system_prompt
    seeds = shuffled(load_seeds(config.seed_dir), stage2.shuffle_seed, stage2.seeds)
    return {"config": config.model_dump(), "icl_base": icl, "seed_order": seeds}
