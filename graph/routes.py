"""The routers of the DRPO loop: each returns the Sends (or the node) it declares."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import get_runtime
from langgraph.types import Send

from drpo.core.config import Context
from drpo.core.plan import stage_params
from drpo.core.state import (
    AfterJudge,
    DRPOState,
    GenerateTask,
    JudgeTask,
    TransitionTask,
    config_of,
)

Scoring = list[Send] | Literal["prune_beam"]


def after_judge(state: DRPOState) -> AfterJudge:
    """Where the verdicts of the scoring about to be sent go."""
    if state.get("confirm_candidates"):  # stage B of validation: nodes/confirm.py
        return "confirm_prompt"
    return "choose_prompt" if state.get("validation_candidates") else "prune_beam"


def send_scoring(state: DRPOState) -> Scoring:
    """Score each new state: stage 1 judges the response itself; stage 2 (and validation)
    answers every query of the level with the prompt, and each answer goes to its judge."""
    sends: list[Send] = []
    then = after_judge(state)
    for candidate in state["frontier"]:
        if state["stage"] == "icl":
            query = state["tracks"][candidate["track"]]["query"]
            judged = JudgeTask(
                candidate=candidate,
                query=query,
                output=candidate["text"],
                aspects=state["level_aspects"][query],
                config=state["config"],
                then=then,
            )
            sends.append(Send("judge", judged))
            continue
        for q in state["level_queries"]:
            task = GenerateTask(
                candidate=candidate,
                query=q,
                icl=state["icl_context"][q],
                aspects=state["level_aspects"][q],
                config=state["config"],
                then=then,
            )
            sends.append(Send("generate", task))
    return sends or "prune_beam"


def send_transitions(state: DRPOState) -> Scoring:
    """Level 0 scores s_0; a later level samples M transitions per beam member."""
    if state["level"] == 0:
        return send_scoring(state)
    M = stage_params(config_of(state["config"]), state["stage"]).M
    done = set(state.get("done_tracks", []))
    sends = [
        Send(
            "transition",
            TransitionTask(
                stage=state["stage"],
                parent=parent,
                parent_index=j,
                sample=m,
                level=state["level"],
                config=state["config"],
            ),
        )
        for track in sorted(state["beam"])
        if track not in done
        for j, parent in enumerate(state["beam"][track])
        for m in range(M)
    ]
    return sends or "prune_beam"


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


def next_level(state: DRPOState) -> Literal["prepare_level", "finish_stage"]:
    D = stage_params(config_of(state["config"]), state["stage"]).D
    if state["level"] > D or set(state.get("done_tracks", [])) >= set(state["tracks"]):
        return "finish_stage"
    if state["stage"] == "system_prompt" and state.get("budget_stop"):
        return "finish_stage"  # the budget keeps the rest for selection (nodes/budget_stop.py)
    return "prepare_level"


def after_level(state: DRPOState) -> Literal["review_best", "prepare_level", "finish_stage"]:
    """With Context.approve, a human reviews stage 2's best after every level but level 0
    (not when a fork seeds a thread with ``update_state``, which has no runtime)."""
    runtime = get_runtime(Context)
    approve = runtime is not None and runtime.context is not None and runtime.context.approve
    if approve and state["stage"] == "system_prompt" and state["level"] > 1:
        return "review_best"
    return next_level(state)
