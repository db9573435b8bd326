"""Stage 2, Algorithm 2: optimize the system prompt by beam search over seed queries.

s_0 = P                                   -> init_beam
for t = 0..D:                             (level 0 scores s_0 itself)
    x_t = X[t]                            -> sample_query (B queries per level, B = 1 in the paper)
    R_x = select_aspects(x_t)             -> select_aspects (cached across runs)
    I_K* = K examples most similar to x_t -> retrieve_icl
    for each s in beam, M times:          -> transition (a Send per parent x sample), t >= 1
        s' = T(s, a)                      -> drop_duplicates
        y = B(x_t | s', I_K*)             -> generate (a Send per new state x query)
        r', a' = R(y | R_x), E(y | R_x)   -> judge
    beam = top W by r'                    -> prune_beam
P* = top of the final beam
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Send

from drpo.config import Context, RunConfig
from drpo.state import SearchState
from graph.policies import LLM_RETRY
from nodes.drop_duplicates import drop_duplicates
from nodes.generate import generate
from nodes.init_beam import init_beam
from nodes.judge import judge
from nodes.prune_beam import prune_beam
from nodes.retrieve_icl import retrieve_icl
from nodes.review_best import review_best
from nodes.sample_query import sample_query
from nodes.select_aspects import select_aspects
from nodes.tasks import GenerateTask, SelectTask, TransitionTask
from nodes.transition import transition


def send_selections(state: SearchState) -> list[Send] | str:
    new = [q for q in state["level_queries"] if q not in state.get("aspects", {})]
    if not new:
        return "retrieve_icl"
    return [Send("select_aspects", SelectTask(query=q, config=state["config"])) for q in new]


def send_generations(state: SearchState) -> list[Send] | str:
    """Answer every level query with every new state (each answer then goes to its judge)."""
    sends = [
        Send(
            "generate",
            GenerateTask(
                candidate=candidate,
                query=q,
                icl=state["icl_context"][q],
                aspects=state["aspects"][q],
                config=state["config"],
            ),
        )
        for candidate in state["frontier"]
        for q in state["level_queries"]
    ]
    return sends or "prune_beam"


def send_transitions(state: SearchState) -> list[Send] | str:
    if state["level"] == 0:
        return send_generations(state)
    config = RunConfig.model_validate(state["config"]).search_stage()
    return [
        Send(
            "transition",
            TransitionTask(
                stage="system_prompt",
                parent=parent,
                parent_index=j,
                sample=m,
                level=state["level"],
                config=state["config"],
            ),
        )
        for j, parent in enumerate(state["beam"]["system_prompt"])
        for m in range(config.M)
    ]


def next_level(state: SearchState) -> str:
    depth = RunConfig.model_validate(state["config"]).search_stage().D
    return END if state["level"] > depth else "sample_query"


def review_or_next(state: SearchState) -> str:
    """With Context.approve, a human reviews the best candidate of every level after level 0."""
    if get_runtime(Context).context.approve and state["level"] > 1:
        return "review_best"
    return next_level(state)


def build_prompt_stage() -> StateGraph[SearchState, Context, SearchState, SearchState]:
    g = StateGraph(SearchState, context_schema=Context)
    g.add_node("init_beam", init_beam)
    g.add_node("sample_query", sample_query)
    g.add_node("select_aspects", select_aspects, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("retrieve_icl", retrieve_icl)
    g.add_node("transition", transition, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("drop_duplicates", drop_duplicates)
    g.add_node("generate", generate, retry_policy=LLM_RETRY, destinations=("judge",))  # type: ignore[arg-type]
    g.add_node("judge", judge, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("prune_beam", prune_beam)
    g.add_node("review_best", review_best)
    g.add_edge(START, "init_beam")
    g.add_edge("init_beam", "sample_query")
    g.add_conditional_edges("sample_query", send_selections, ["select_aspects", "retrieve_icl"])
    g.add_edge("select_aspects", "retrieve_icl")
    g.add_conditional_edges(
        "retrieve_icl", send_transitions, ["transition", "generate", "prune_beam"]
    )
    g.add_edge("transition", "drop_duplicates")
    g.add_conditional_edges("drop_duplicates", send_generations, ["generate", "prune_beam"])
    g.add_edge("judge", "prune_beam")
    g.add_conditional_edges("prune_beam", review_or_next, ["review_best", "sample_query", END])
    g.add_conditional_edges("review_best", next_level, ["sample_query", END])
    return g


prompt_stage: CompiledStateGraph[SearchState, Context, SearchState, SearchState] = (
    build_prompt_stage().compile(name="optimize_system_prompt")
)
