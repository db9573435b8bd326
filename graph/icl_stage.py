"""Stage 1, Algorithm 1: optimize the response of every base ICL example by beam search.

for each (q_i, b_i):                    -> one track per example, all tracks side by side
    s_0 = b_i; R_q = select_aspects(q_i)  -> select_aspects, init_beam, judge(s_0)
    for t = 1..D:
        for each s in beam, M times:    -> transition  (a Send per parent x sample)
            s' = T(s, a)                 -> drop_duplicates
            r' = R(s' | R_q)             -> judge       (a Send per new state)
        beam = top W                     -> prune_beam
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from drpo.config import Context, RunConfig
from drpo.state import SearchState
from graph.policies import LLM_RETRY
from nodes.drop_duplicates import drop_duplicates
from nodes.init_beam import init_beam
from nodes.judge import judge
from nodes.prune_beam import prune_beam
from nodes.select_aspects import select_aspects
from nodes.tasks import JudgeTask, SelectTask, TransitionTask
from nodes.transition import transition


def send_selections(state: SearchState) -> list[Send]:
    queries = sorted({t["query"] for t in state["tracks"].values() if "query" in t})
    return [Send("select_aspects", SelectTask(query=q, config=state["config"])) for q in queries]


def send_judges(state: SearchState) -> list[Send] | str:
    """Judge each new state: in stage 1 the response itself is the output."""
    sends = []
    for candidate in state["frontier"]:
        query = state["tracks"][candidate["track"]]["query"]
        task = JudgeTask(
            candidate=candidate,
            query=query,
            output=candidate["text"],
            aspects=state["aspects"][query],
            config=state["config"],
        )
        sends.append(Send("judge", task))
    return sends or "prune_beam"


def send_transitions(state: SearchState) -> list[Send] | str:
    """Next level: M transitions per beam member, or the end after depth D."""
    config = RunConfig.model_validate(state["config"])
    if state["level"] > config.icl.D:
        return END
    return [
        Send(
            "transition",
            TransitionTask(
                stage="icl",
                parent=parent,
                parent_index=j,
                sample=m,
                level=state["level"],
                config=state["config"],
            ),
        )
        for track in sorted(state["beam"])
        for j, parent in enumerate(state["beam"][track])
        for m in range(config.icl.M)
    ]


def build_icl_stage() -> StateGraph[SearchState, Context, SearchState, SearchState]:
    g = StateGraph(SearchState, context_schema=Context)
    g.add_node("select_aspects", select_aspects, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("init_beam", init_beam)
    g.add_node("judge", judge, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("prune_beam", prune_beam)
    g.add_node("transition", transition, retry_policy=LLM_RETRY)  # type: ignore[arg-type]  # Send task payload
    g.add_node("drop_duplicates", drop_duplicates)
    g.add_conditional_edges(START, send_selections, ["select_aspects"])
    g.add_edge("select_aspects", "init_beam")
    g.add_conditional_edges("init_beam", send_judges, ["judge", "prune_beam"])
    g.add_edge("judge", "prune_beam")
    g.add_conditional_edges("prune_beam", send_transitions, ["transition", END])
    g.add_edge("transition", "drop_duplicates")
    g.add_conditional_edges("drop_duplicates", send_judges, ["judge", "prune_beam"])
    return g


icl_stage: CompiledStateGraph[SearchState, Context, SearchState, SearchState] = (
    build_icl_stage().compile(name="optimize_icl")
)
