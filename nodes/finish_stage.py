"""finish_stage: closes a stage after its last level (or once every track stopped early).

Stage 1: I* = each track's best response across its levels (the initial one included); then
stage 2 begins. Stage 2: P* is chosen on held-out validation queries (``select`` race or
validation, see nodes/validate.py), or is the top of the final beam (``select="last-beam"``, the
paper). A search that a budget (nodes/budget_stop.py) or ``--patience`` (nodes/check.py) stopped
early ends here too, with a note.
"""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from drpo.core.context import Context
from drpo.core.plan import validation_count
from drpo.core.records import read_plan, thread_of
from drpo.core.state import DRPOState, config_of
from nodes.stages import NEXT, spec_of

NO_VALIDATION = (
    "validation selection needs seed queries beyond the {used} that the levels use; none are "
    "left, so P* is the top of the last beam (select=last-beam); use --seeds to add some"
)


async def finish_stage(
    state: DRPOState, runtime: Runtime[Context]
) -> Command[Literal["begin_stage", "prepare_validation", "__end__"]]:
    config, spec = config_of(state["config"]), spec_of(state)
    if (after := NEXT[spec.name]) is not None:  # stage 1: I* -> stage 2
        return Command(update={"stage": after, **spec.result(state)}, goto="begin_stage")
    seeds = len(await read_plan(runtime.store, thread_of(runtime)))
    notes: list[str] = []  # added to the run's (a reducer)
    marks = {"search": dict(state.get("calls", {}))}  # drpo.runtime.summary.phases
    if stop := state.get("budget_stop"):
        notes.append(f"the search stopped after level {stop['level']}: {stop['reason']}")
        if stop["level"] == 0:  # only the initial prompt was scored: nothing to select among
            top = state["beam"]["system_prompt"][0]
            update = {"best_system_prompt": top["candidate"]["text"], "best_reward": top["reward"]}
            return Command(update={**update, "notes": notes, "phase_marks": marks}, goto="__end__")
    if stall := state.get("stall"):  # --patience (nodes/check.py)
        notes.append(f"the search stopped after level {stall['level']}: {stall['reason']}")
    if validation_count(config, seeds) > 0:
        return Command(update={"notes": notes, "phase_marks": marks}, goto="prepare_validation")
    top = state["beam"]["system_prompt"][0]
    if config.system_prompt.select != "last-beam":
        used = min(seeds, (config.search_stage().D + 1) * config.system_prompt.B)
        notes.append(NO_VALIDATION.format(used=used))
    update = {"best_system_prompt": top["candidate"]["text"], "best_reward": top["reward"]}
    return Command(update={**update, "notes": notes}, goto="__end__")
