"""What differs between Alg. 1 (optimize the ICL responses) and Alg. 2 (optimize the system
prompt): one spec object per stage. Both stages run the same level loop (graph/drpo.py); its
nodes ask ``spec_of(state)`` instead of testing the stage's name.

| | ICL (Alg. 1) | system prompt (Alg. 2) |
|---|---|---|
| tracks | one per base example, s_0 its base response | one, s_0 the initial prompt P |
| a level's queries | each live track's own query | the seed queries x_t (``drpo.core.plan``) |
| retrieval (K) | none | the K most similar optimized examples per query |
| scoring | the judge scores the response itself | the base model answers, the judge scores |
| transition | rewrite a response (App. E.3) | rewrite the prompt, former prompts shown (E.2) |
| across levels | each track's best; a track stops at all 5s | lineages, budget stop, checks |
| finishing | I* = each track's best -> Alg. 2 | P* selected (nodes/finish_stage.py) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel

from drpo.core.config import RunConfig
from drpo.core.meta_prompts import PROMPT_TRANSITION, RESPONSE_TRANSITION, format_evaluation
from drpo.core.plan import StageParams, level_queries, stage_params
from drpo.core.records import read_former, read_plan, require_store, thread_of
from drpo.core.schemas import PromptTransitionReply, ResponseTransitionReply
from drpo.core.state import DRPOState, Evaluation, Scored, Stage, Track, config_of


def feedback(evaluations: list[Evaluation], with_query: bool) -> str:
    """The alignment feedback a: outputs and their per-aspect evaluations."""
    blocks = []
    for ev in evaluations:
        head = f"Query:\n{ev['query']}\n\nOutput:\n{ev['output']}\n\n" if with_query else ""
        blocks.append(f"{head}Evaluation:\n{format_evaluation(ev['scores'])}")
    return "\n\n---\n\n".join(blocks)


@dataclass(frozen=True)
class StageSpec:
    """The ICL stage's answers; PromptStage overrides what Alg. 2 does differently."""

    name: Stage
    generates: bool  # the base model answers each query with the candidate (else: it is judged)
    keeps_best: bool  # each track's best across levels (rewards compare: one query per track)
    searches_prompts: bool  # lineages, the budget's stop and --patience checks follow its levels
    reply: type[BaseModel]  # the optimizer's reply schema
    field: str  # the reply's field that holds the rewrite

    def params(self, config: RunConfig) -> StageParams:
        return stage_params(config, self.name)

    def tracks(self, state: DRPOState) -> dict[str, Track]:
        return {
            f"icl/{i:02d}": {"query": e["query"], "initial": e["response"]}
            for i, e in enumerate(state["icl_base"])
        }

    async def queries(self, state: DRPOState, runtime: Runtime[Any]) -> list[str]:
        """The queries level ``state["level"]`` scores on."""
        done = set(state.get("done_tracks", []))
        live = [t["query"] for name, t in state["tracks"].items() if name not in done]
        return sorted({q for q in live})

    def k(self, config: RunConfig) -> int:
        """ICL examples retrieved per query."""
        return 0

    def stops_tracks(self, config: RunConfig) -> bool:
        return config.icl.stop_at_max

    def result(self, state: DRPOState) -> dict[str, Any]:
        """What the stage hands on: I*, each track's best response, and a report per track."""
        tracks, best = sorted(state["tracks"]), state["best"]
        return {
            "icl_examples": [
                {"query": state["tracks"][t]["query"], "response": best[t]["candidate"]["text"]}
                for t in tracks
            ],
            "icl_report": [
                {
                    "track": t,
                    "best_level": best[t]["candidate"]["level"],
                    "reward": best[t]["reward"],
                    "judge": dict(best[t]).get("judge"),  # nodes/prune_beam.py marks it
                    "stopped_early": t in state.get("done_tracks", []),
                }
                for t in tracks
            ],  # fmt: skip
        }

    async def transition_prompt(self, parent: Scored, runtime: Runtime[Any]) -> str:
        return RESPONSE_TRANSITION.format(
            query=parent["evaluations"][0]["query"],
            current=parent["candidate"]["text"],
            evaluations=feedback(parent["evaluations"], with_query=False),
        )


@dataclass(frozen=True)
class PromptStage(StageSpec):
    def tracks(self, state: DRPOState) -> dict[str, Track]:
        initial = config_of(state["config"]).system_prompt.initial_prompt
        return {"system_prompt": {"initial": initial}}

    async def queries(self, state: DRPOState, runtime: Runtime[Any]) -> list[str]:
        seeds = await read_plan(runtime.store, thread_of(runtime))
        return level_queries(config_of(state["config"]), seeds, state["level"])

    def k(self, config: RunConfig) -> int:
        return config.system_prompt.K

    def result(self, state: DRPOState) -> dict[str, Any]:
        return {}  # P* comes from the selection (nodes/finish_stage.py, nodes/validate.py)

    def stops_tracks(self, config: RunConfig) -> bool:
        return False

    async def transition_prompt(self, parent: Scored, runtime: Runtime[Any]) -> str:
        state = parent["candidate"]
        store = require_store(runtime.store)
        former = [*await read_former(store, thread_of(runtime), state["id"]), state["text"]]
        return PROMPT_TRANSITION.format(
            current=state["text"],
            evaluations=feedback(parent["evaluations"], with_query=True),
            former="\n\n".join(f"{i + 1}. {text}" for i, text in enumerate(former)),
        )


ICL = StageSpec("icl", generates=False, keeps_best=True, searches_prompts=False,
                reply=ResponseTransitionReply, field="new_response")  # fmt: skip
SYSTEM_PROMPT = PromptStage("system_prompt", generates=True, keeps_best=False,
                            searches_prompts=True, reply=PromptTransitionReply,
                            field="new_system_prompt")  # fmt: skip
SPECS: dict[Stage, StageSpec] = {"icl": ICL, "system_prompt": SYSTEM_PROMPT}
NEXT: dict[Stage, Stage | None] = {"icl": "system_prompt", "system_prompt": None}


def spec_of(state: DRPOState | dict[str, Any]) -> StageSpec:
    return SPECS[state["stage"]]
