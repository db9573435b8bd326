"""The whole DRPO run as one loop whose levels are root-namespace supersteps.

    load_data -> select_aspects (every query of the search, up front) -> begin_stage
    level t:  sample_query -> retrieve_icl -> [transition -> drop_duplicates] -> (generate ->)
              judge -> prune_beam -> [review_best] -> [prepare_check -> retrieve_icl -> generate
              -> judge -> check_progress, every 2nd level with --patience] -> next level
              | finish_stage
    finish_stage: stage 1 (Alg. 1, ICL responses) -> begin_stage of stage 2 (Alg. 2, the
              system prompt) -> ... -> [prepare_validation -> retrieve_icl -> generate -> judge
              -> choose_prompt, per rung of the race -> [prepare_confirmation -> retrieve_icl ->
              generate -> judge -> confirm_prompt, per look of the sequential test]]

The seven DRPO steps are nodes: sample_query, retrieve_icl, select_aspects, generate, judge,
transition, prune_beam. Alg. 1 and Alg. 2 differ only in their stage spec (nodes/stages.py);
both run this loop with the stage as data. Every round of scoring (a level, a rung, a look, a
check) goes through retrieve_icl and the same routers. Each checkpoint after a level's
prune_beam carries ``closed = {stage, level}``: a fork can start from any level of either stage.
``builder`` stays importable so the CLI and tests compile it with their own checkpointer and
store; ``graph`` (no checkpointer) is what ``langgraph dev`` serves.
"""

from __future__ import annotations

from typing import Any, cast

from langgraph.graph import END, START, StateGraph

from drpo.core.context import Context
from drpo.core.state import DRPOInput, DRPOState
from graph.policies import LLM_RETRY
from graph.routes import (
    after_check,
    after_choice,
    after_confirm,
    after_level,
    after_retrieval,
    next_level,
    send_scoring,
)
from nodes.begin_stage import begin_stage
from nodes.check import check_progress, prepare_check
from nodes.confirm import confirm_prompt, prepare_confirmation
from nodes.drop_duplicates import drop_duplicates
from nodes.finish_stage import finish_stage
from nodes.generate import generate
from nodes.judge import judge
from nodes.load_data import load_data
from nodes.prune_beam import prune_beam
from nodes.retrieve_icl import retrieve_icl
from nodes.review_best import review_best
from nodes.sample_query import sample_query
from nodes.select_aspects import select_aspects
from nodes.transition import transition
from nodes.validate import choose_prompt, prepare_validation

builder = StateGraph(DRPOState, input_schema=DRPOInput, context_schema=Context)
builder.add_node("load_data", load_data)
builder.add_node(
    "select_aspects", cast(Any, select_aspects), retry_policy=LLM_RETRY
)  # Send task payload
builder.add_node("begin_stage", begin_stage)
builder.add_node("sample_query", sample_query, retry_policy=LLM_RETRY)  # a fork's new queries
builder.add_node("retrieve_icl", retrieve_icl, retry_policy=LLM_RETRY)
builder.add_node("transition", transition, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
builder.add_node("drop_duplicates", drop_duplicates)
builder.add_node("generate", generate, retry_policy=LLM_RETRY, destinations=("judge",))  # type: ignore[arg-type]
builder.add_node(
    "judge",
    judge,  # type: ignore[arg-type]  # Send task payload
    retry_policy=LLM_RETRY,
    destinations=("prune_beam", "check_progress", "choose_prompt", "confirm_prompt"),  # "then"
)
builder.add_node("prune_beam", prune_beam)
builder.add_node("review_best", review_best)
# --patience: a check of the search's progress after every 2nd level (nodes/check.py)
builder.add_node("prepare_check", prepare_check, retry_policy=LLM_RETRY)
builder.add_node("check_progress", check_progress)
builder.add_node("finish_stage", finish_stage)
# these select the aspects of their round's queries (model calls): retried like the LLM nodes
builder.add_node("prepare_validation", prepare_validation, retry_policy=LLM_RETRY)
builder.add_node("choose_prompt", choose_prompt)
builder.add_node("prepare_confirmation", prepare_confirmation, retry_policy=LLM_RETRY)
builder.add_node("confirm_prompt", confirm_prompt)

builder.add_edge(START, "load_data")
builder.add_edge("select_aspects", "begin_stage")
builder.add_edge("begin_stage", "sample_query")
builder.add_edge("sample_query", "retrieve_icl")
SCORING = ["generate", "judge", "prune_beam", "check_progress", "choose_prompt", "confirm_prompt"]
builder.add_conditional_edges("retrieve_icl", after_retrieval, ["transition", *SCORING])
builder.add_edge("transition", "drop_duplicates")
builder.add_conditional_edges("drop_duplicates", send_scoring, ["generate", "judge", "prune_beam"])
LEVEL_END = ["prepare_check", "sample_query", "finish_stage"]
builder.add_conditional_edges("prune_beam", after_level, ["review_best", *LEVEL_END])
builder.add_conditional_edges("review_best", next_level, LEVEL_END)
builder.add_edge("prepare_check", "retrieve_icl")
builder.add_conditional_edges("check_progress", after_check, ["sample_query", "finish_stage"])
builder.add_edge("prepare_validation", "retrieve_icl")
builder.add_conditional_edges(
    "choose_prompt", after_choice, ["prepare_validation", "prepare_confirmation", END]
)
builder.add_edge("prepare_confirmation", "retrieve_icl")
builder.add_conditional_edges("confirm_prompt", after_confirm, ["prepare_confirmation", END])

graph = builder.compile(name="drpo")
