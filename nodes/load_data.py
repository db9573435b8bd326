"""load_data: validate the run config, load I_base and X, record the shuffled seed order (once,
in the store: ``drpo.core.records``) and send every query the search will score to
select_aspects, side by side, up front (validation and confirmation queries are selected when
their rung or look comes). Given optimized ICL examples (--icl-from), stage 1 is skipped."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.data import load_icl, load_seeds, shuffled
from drpo.core.plan import confirm_count, planned_queries
from drpo.core.records import require_store, thread_of, write_plan
from drpo.core.state import DRPOInput, SelectTask


async def load_data(
    state: DRPOInput, runtime: Runtime[Context]
) -> Command[Literal["select_aspects", "begin_stage"]]:
    config = RunConfig.model_validate(state.get("config") or {})
    icl = load_icl(config.icl_path)[: config.icl.n]
    given = state.get("icl_examples")
    pool = len(given) if given is not None else len(icl)
    if pool < config.system_prompt.K:
        raise ValueError(f"K={config.system_prompt.K} is larger than the ICL pool ({pool})")
    stage2 = config.system_prompt
    seeds = shuffled(load_seeds(config.seed_dir), stage2.shuffle_seed, stage2.seeds)
    confirm_count(config, len(seeds))  # an explicit --validation/--confirm N the seeds cannot serve
    await write_plan(require_store(runtime.store), thread_of(runtime), seeds)
    update: dict[str, Any] = {
        "config": config.model_dump(),
        "icl_base": icl,
        "stage": "icl",
    }
    if given is not None:  # --icl-from: reuse an optimized ICL set
        update.update(stage="system_prompt", icl_base=[], icl_examples=list(given))
    planned = planned_queries(config, update["icl_base"], seeds)
    queries = [
        q for stage, qs in planned.items() if config.stage_reward(stage) == "dynamic" for q in qs
    ]
    cap = config.sampling.json_max_tokens
    sends = [
        Send("select_aspects", SelectTask(query=q, max_tokens=cap)) for q in dict.fromkeys(queries)
    ]
    return Command(update=update, goto=sends or "begin_stage")
