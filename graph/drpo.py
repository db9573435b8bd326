"""The whole DRPO run as one loop whose levels are root-namespace supersteps.

    load_data -> select_aspects (every query of the search, up front) -> begin_stage
    level t:  prepare_level -> [transition -> drop_duplicates] -> (generate ->) judge
              -> prune_beam -> [review_best] -> next level | finish_stage
    finish_stage: stage 1 (Alg. 1, ICL responses) -> begin_stage of stage 2 (Alg. 2, the
              system prompt) -> ... -> [prepare_validation -> generate -> judge -> choose_prompt,
              per rung of the race -> [prepare_confirmation -> generate -> judge ->
              confirm_prompt, per look of the sequential test]]

Alg. 1 and Alg. 2 differ only in what a candidate is (a response, a system prompt) and which
queries score it; both run this loop with the stage as data. Each checkpoint after a level's
prune_beam carries ``closed = {stage, level}``: a fork can start from any level of either stage.
``builder`` stays importable so the CLI and tests compile it with their own checkpointer and
store; ``graph`` (no checkpointer) is what ``langgraph dev`` serves.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.graph import END, START, StateGraph

from drpo.core.config import Context
from drpo.core.state import DRPOInput, DRPOState
from graph.policies import LLM_RETRY
from graph.routes import (
    after_choice,
    after_confirm,
    after_level,
    next_level,
    send_scoring,
    send_transitions,
)
from nodes.begin_stage import begin_stage
from nodes.confirm import confirm_prompt, prepare_confirmation
from nodes.drop_duplicates import drop_duplicates
from nodes.finish_stage import finish_stage
from nodes.generate import generate
from nodes.judge import judge
from nodes.load_data import load_data
from nodes.prepare_level import prepare_level
from nodes.prune_beam import prune_beam
from nodes.review_best import review_best
from nodes.select_aspects import select_aspects
from nodes.transition import transition
from nodes.validate import choose_prompt, prepare_validation

builder = StateGraph(DRPOState, input_schema=DRPOInput, context_schema=Context)
builder.add_node("load_data", load_data)
builder.add_node(
    "select_aspects", cast(Any, select_aspects), retry_policy=LLM_RETRY
)  # Send task payload
builder.add_node("begin_stage", begin_stage)
builder.add_node("prepare_level", prepare_level, retry_policy=LLM_RETRY)  # a fork's new queries
builder.add_node("transition", transition, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
builder.add_node("drop_duplicates", drop_duplicates)
builder.add_node("generate", generate, retry_policy=LLM_RETRY, destinations=("judge",))  # type: ignore[arg-type]
builder.add_node(
    "judge",
    judge,  # type: ignore[arg-type]  # Send task payload
    retry_policy=LLM_RETRY,
    destinations=("prune_beam", "choose_prompt", "confirm_prompt"),  # JudgeTask["then"]
)
builder.add_node("prune_beam", prune_beam)
builder.add_node("review_best", review_best)
builder.add_node("finish_stage", finish_stage)
# these select the aspects of their round's queries (model calls): retried like the LLM nodes
builder.add_node("prepare_validation", prepare_validation, retry_policy=LLM_RETRY)
builder.add_node("choose_prompt", choose_prompt)
builder.add_node("prepare_confirmation", prepare_confirmation, retry_policy=LLM_RETRY)
builder.add_node("confirm_prompt", confirm_prompt)

builder.add_edge(START, "load_data")
builder.add_edge("select_aspects", "begin_stage")
builder.add_edge("begin_stage", "prepare_level")
builder.add_conditional_edges(
    "prepare_level", send_transitions, ["transition", "generate", "judge", "prune_beam"]
)
builder.add_edge("transition", "drop_duplicates")
builder.add_conditional_edges("drop_duplicates", send_scoring, ["generate", "judge", "prune_beam"])
builder.add_conditional_edges(
    "prune_beam", after_level, ["review_best", "prepare_level", "finish_stage"]
)
builder.add_conditional_edges("review_best", next_level, ["prepare_level", "finish_stage"])
builder.add_conditional_edges("prepare_validation", send_scoring, ["generate", "prune_beam"])
builder.add_conditional_edges(
    "choose_prompt", after_choice, ["prepare_validation", "prepare_confirmation", END]
)
builder.add_conditional_edges("prepare_confirmation", send_scoring, ["generate", "prune_beam"])
builder.add_conditional_edges("confirm_prompt", after_confirm, ["prepare_confirmation", END])

graph = builder.compile(name="drpo")
