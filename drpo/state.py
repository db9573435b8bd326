"""Graph state: small, JSON-able TypedDicts; lists filled by ``Send`` tasks use ``operator.add``."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

from drpo.prompting import ICLExample

Stage = Literal["icl", "system_prompt"]


def add_counts(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Reducer: sum call counters."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + value
    return out


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: dict union, right wins."""
    return {**(left or {}), **(right or {})}


class AspectSelection(TypedDict):
    """The aspects R_q chosen for a query, with descriptions and the selector's reasoning."""

    query: str
    aspects: dict[str, str]
    reasoning: str
    source: str  # "selector", "cache" or "static"


class Candidate(TypedDict):
    """A state s of the search: a system prompt (stage 2) or an ICL response (stage 1)."""

    id: str
    track: str
    level: int
    parent: str | None
    text: str
    former: list[str]  # texts on the path before this one, oldest first
    analysis: str
    thought: str


class Evaluation(TypedDict):
    """Judge verdict on one output of a candidate for one query: per-aspect scores and reward."""

    candidate: Candidate
    query: str
    output: str
    scores: dict[str, dict[str, Any]]  # aspect -> {"rationale": str, "score": float}
    reward: float


class Scored(TypedDict):
    """A candidate with its evaluations at its level; reward = mean over them."""

    candidate: Candidate
    evaluations: list[Evaluation]
    reward: float


class LevelRecord(TypedDict):
    stage: Stage
    track: str
    level: int
    queries: list[str]
    candidates: list[dict[str, Any]]  # id, parent, reward, scores, kept
    dropped_duplicates: int
    best_reward: float | None


class Track(TypedDict):
    """One independent beam search: one ICL example (stage 1) or the system prompt (stage 2)."""

    query: NotRequired[str]  # stage 1: the example's query
    initial: str


class SearchState(TypedDict, total=False):
    """State of one stage (a subgraph)."""

    stage: Stage
    config: dict[str, Any]
    tracks: dict[str, Track]
    seed_order: list[str]
    icl_pool: list[ICLExample]
    level: int
    level_queries: list[str]
    aspects: Annotated[dict[str, AspectSelection], merge]
    icl_context: dict[str, list[ICLExample]]
    beam: dict[str, list[Scored]]
    proposals: Annotated[list[Candidate], operator.add]
    frontier: list[Candidate]
    evaluations: Annotated[list[Evaluation], operator.add]
    levels: Annotated[list[LevelRecord], operator.add]
    calls: Annotated[dict[str, int], add_counts]


class DRPOState(TypedDict, total=False):
    """State of the whole run (the parent graph)."""

    config: dict[str, Any]
    icl_base: list[ICLExample]
    seed_order: list[str]
    icl_examples: list[ICLExample]
    icl_levels: list[LevelRecord]
    best_system_prompt: str
    best_reward: float | None
    levels: list[LevelRecord]
    aspects: Annotated[dict[str, AspectSelection], merge]
    calls: Annotated[dict[str, int], add_counts]


class DRPOInput(TypedDict, total=False):
    config: dict[str, Any]
