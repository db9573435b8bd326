"""The routers of the DRPO loop: each returns the Sends (or the node) it declares."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import get_runtime
from langgraph.types import Send

from drpo.core.context import Context
from drpo.core.state import (
    AfterJudge,
    DRPOState,
    GenerateTask,
    JudgeTask,
    TransitionTask,
    config_of,
)
from nodes.check import check_due
from nodes.stages import spec_of

Scoring = list[Send] | AfterJudge
Transitions = list[Send] | Literal["prune_beam"]


def after_judge(state: DRPOState) -> AfterJudge:
    """Where the verdicts of the scoring about to be sent go."""
    if state.get("confirm_candidates"):  # stage B of validation: nodes/confirm.py
        return "confirm_prompt"
    if state.get("validation_candidates"):
        return "choose_prompt"
    pending = (state.get("progress") or {}).get("pending")
    return "check_progress" if pending else "prune_beam"  # --patience: nodes/check.py


def send_scoring(state: DRPOState) -> Scoring:
    """Score each candidate of the round: stage 1 judges the response itself; stage 2 (and the
    rounds of validation and checks) answers every query of the round with the prompt, and each
    answer goes to its judge."""
    sends: list[Send] = []
    then, sampling = after_judge(state), state["config"]["sampling"]
    for candidate in state["frontier"]:
        if not spec_of(state).generates:
            query = state["tracks"][candidate["track"]]["query"]
            judged = JudgeTask(candidate=candidate, query=query, output=candidate["text"],
                               aspects=state["level_aspects"][query], sampling=sampling,
                               then=then)  # fmt: skip
            sends.append(Send("judge", judged))
            continue
        for q in state["level_queries"]:
            task = GenerateTask(candidate=candidate, query=q, icl=state["icl_context"][q],
                                aspects=state["level_aspects"][q], sampling=sampling,
                                then=then)  # fmt: skip
            sends.append(Send("generate", task))
    return sends or then


def send_transitions(state: DRPOState) -> Transitions:
    """A level samples M transitions per beam member."""
    config = config_of(state["config"])
    M = spec_of(state).params(config).M
    done = set(state.get("done_tracks", []))
    sends = [
        Send("transition", TransitionTask(stage=state["stage"], parent=parent, parent_index=j,
                                          sample=m, level=state["level"], seed=config.seed,
                                          sampling=state["config"]["sampling"]))  # fmt: skip
        for track in sorted(state["beam"])
        if track not in done
        for j, parent in enumerate(state["beam"][track])
        for m in range(M)
    ]
    return sends or "prune_beam"


def after_retrieval(state: DRPOState) -> Scoring | Transitions:
    """A round of validation, confirmation or a check, and level 0 (s_0 itself), score their
    candidates; a later level first samples its transitions."""
    if after_judge(state) != "prune_beam" or state["level"] == 0:
        return send_scoring(state)
    return send_transitions(state)


def after_choice(
    state: DRPOState,
) -> Literal["prepare_validation", "prepare_confirmation", "__end__"]:
    """choose_prompt sent the race to its next rung, chose P*, or left the best on validation
    to be confirmed."""
    if (state.get("race") or {}).get("alive"):
        return "prepare_validation"
    return "prepare_confirmation" if state.get("confirm_candidates") else "__end__"


def after_confirm(state: DRPOState) -> Literal["prepare_confirmation", "__end__"]:
    """confirm_prompt decided, or the sequential test looks again after more queries."""
    return "prepare_confirmation" if state.get("confirm_candidates") else "__end__"


NextLevel = Literal["prepare_check", "sample_query", "finish_stage"]


def next_level(state: DRPOState) -> NextLevel:
    spec = spec_of(state)
    D = spec.params(config_of(state["config"])).D
    if state["level"] > D or set(state.get("done_tracks", [])) >= set(state["tracks"]):
        return "finish_stage"
    if spec.searches_prompts and state.get("budget_stop"):
        return "finish_stage"  # the budget keeps the rest for selection (nodes/budget_stop.py)
    return "prepare_check" if check_due(state) else "sample_query"


def after_check(state: DRPOState) -> Literal["sample_query", "finish_stage"]:
    """check_progress found no better prompt N times in a row (``stall``), or the search goes
    on."""
    return "finish_stage" if state.get("stall") else "sample_query"


def after_level(state: DRPOState) -> Literal["review_best"] | NextLevel:
    """With Context.approve, a human reviews stage 2's best after every level but level 0
    (not when a fork seeds a thread with ``update_state``, which has no runtime)."""
    runtime = get_runtime(Context)
    approve = runtime is not None and runtime.context is not None and runtime.context.approve
    if approve and spec_of(state).searches_prompts and state["level"] > 1:
        return "review_best"
    return next_level(state)
