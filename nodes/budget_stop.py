"""Where the search stops for a budget: after each stage-2 level, prune_beam asks whether the next
level and then the selection and the confirmation still fit in ``--max-calls`` / ``--max-usd``
(``drpo.llm.budget_plan``); when they do not, the search ends at this level and the run selects
and confirms among the prompts it has (nodes/finish_stage.py notes it)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.records import read_plan, thread_of
from drpo.core.state import DRPOState
from drpo.llm.budget_plan import Plan, next_level_fits, plans_spend
from drpo.llm.prices import role_prices
from drpo.llm.session import active_session
from drpo.llm.usage import model_calls


async def budget_stop(
    state: DRPOState, runtime: Runtime[Context], config: RunConfig, level: int
) -> dict[str, Any] | None:
    """``{"level", "reason"}`` when the search must stop after ``level``, else None."""
    context = runtime.context
    plan = Plan(context.max_calls, context.max_usd, role_prices(context.specs(), context.prices))
    if not plan.active:
        return None
    seeds = len(await read_plan(runtime.store, thread_of(runtime)))
    if not plans_spend(config, seeds):
        return None  # nothing to reserve: the caps stop the run where they are reached
    session = active_session()
    spent = session.usage.total("calls") if session else model_calls(state.get("calls", {}))
    spent_usd = session.spent_usd() if session else 0.0
    icl = state.get("icl_examples") or state.get("icl_base") or []
    if next_level_fits(plan, config, icl, seeds, level, spent, spent_usd):
        return None
    limit = f"--max-calls {plan.max_calls}" if plan.max_calls is not None else ""
    if plan.max_usd is not None:
        limit = f"{limit} --max-usd {plan.max_usd:g}".strip()
    return {
        "level": level,
        "max_calls": plan.max_calls,  # the budget it stopped under: a larger one searches on
        "max_usd": plan.max_usd,
        "reason": f"{spent} calls (${spent_usd:.4f}) spent: level {level + 1} and then the "
        f"selection and confirmation would not fit in {limit}",
    }
