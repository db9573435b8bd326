"""Graph state: small, JSON-able TypedDicts; lists filled by ``Send`` tasks use ``operator.add``.

The state is flat: it holds what the next step needs (the current stage's beams, the current
level), never a growing history. Each level's record is written once to the LangGraph store
(``drpo.core.records``), so a checkpoint costs the same at level 40 as at level 1.
"""

from __future__ import annotations

import hashlib
import operator
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

from drpo.core.config import RunConfig
from drpo.core.messages import ICLExample

Stage = Literal["icl", "system_prompt"]
STAGES: tuple[Stage, ...] = ("icl", "system_prompt")


def add_counts(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Reducer: sum call counters."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + value
    return out


class AspectSelection(TypedDict):
    """The aspects R_q chosen for a query, with descriptions and the selector's reasoning."""

    query: str
    aspects: dict[str, str]
    reasoning: str
    source: str  # "selector", "cache" or "static"


class Candidate(TypedDict):
    """A state s of the search: a system prompt (stage 2) or an ICL response (stage 1). What
    every Send of its scoring carries: ids and text."""

    id: str
    track: str
    level: int
    parent: str | None
    text: str


class Proposal(Candidate):
    """A transition's new state with the optimizer's reasoning, kept in the state until its
    level's record is written (``prune_beam``), not sent on with the candidate."""

    analysis: str
    thought: str


def text_key(text: str) -> str:
    """Two candidate texts are the same state when their keys are equal: whitespace runs
    collapsed, case folded (duplicates are dropped, validation scores one text once)."""
    return " ".join(text.split()).lower()


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
    """One track's level: written once to the store by prune_beam (``drpo.core.records``)."""

    stage: Stage
    track: str
    level: int
    queries: list[str]
    aspects: dict[str, list[str]]  # query -> the aspect names it was judged on
    candidates: list[dict[str, Any]]  # id, parent, text, reward, kept, evaluations
    beam: list[dict[str, Any]]  # the kept states after this level: id, text, reward
    dropped_duplicates: int
    best_reward: float | None


class Track(TypedDict):
    """One independent beam search: one ICL example (stage 1) or the system prompt (stage 2)."""

    query: NotRequired[str]  # stage 1: the example's query
    initial: str


class LevelMark(TypedDict):
    """Which level the checkpoint after a prune_beam closes (forks start from there)."""

    stage: Stage
    level: int


class DRPOState(TypedDict, total=False):
    """State of a run: one loop over levels, with the stage as data (Alg. 1, then Alg. 2)."""

    config: dict[str, Any]
    icl_base: list[ICLExample]
    # the current stage's search
    stage: Stage
    tracks: dict[str, Track]
    level: int
    level_queries: list[str]
    level_aspects: dict[str, AspectSelection]
    icl_context: dict[str, list[ICLExample]]
    beam: dict[str, list[Scored]]
    best: dict[str, Scored]  # stage 1: the best state of each track so far (comparable rewards)
    done_tracks: list[str]  # stage 1: tracks stopped early (every aspect scored 5)
    proposals: Annotated[list[Proposal], operator.add]
    frontier: list[Candidate]
    evaluations: Annotated[list[Evaluation], operator.add]
    closed: LevelMark  # the level the last prune_beam closed
    # results
    icl_examples: list[ICLExample]
    icl_report: list[dict[str, Any]]  # per ICL track: the level whose response won, its reward
    validation_candidates: list[dict[str, Any]]  # {"sources": [...], "candidate": Candidate}
    confirm_candidates: list[dict[str, Any]]  # the initial prompt and the best on validation
    race: dict[str, Any]  # validation's race: rung, alive ids, rewards so far per id (racing.py)
    looks: dict[str, Any]  # confirmation's looks: look, rewards so far of P and P_top
    budget_stop: dict[str, Any] | None  # the search stopped for the budget: level, reason
    progress: dict[str, Any]  # --patience: the best so far, its rewards, checks (nodes/check.py)
    stall: dict[str, Any] | None  # the search stopped for want of progress: level, reason
    phase_marks: dict[str, dict[str, int]]  # calls per role when the search, the race ended
    validation: dict[str, Any]
    best_system_prompt: str
    best_reward: float | None
    # warnings recorded in the run (e.g. validation fell back to last-beam): nodes add theirs
    notes: Annotated[list[str], operator.add]
    calls: Annotated[dict[str, int], add_counts]


class DRPOInput(TypedDict, total=False):
    config: dict[str, Any]
    icl_examples: list[ICLExample]  # an optimized ICL set to reuse: stage 1 is skipped


# Payloads of the ``Send`` tasks: each carries what its node needs (ids, text, sampling values),
# not the run's whole config.

AfterJudge = Literal["prune_beam", "check_progress", "choose_prompt", "confirm_prompt"]


class SelectTask(TypedDict):
    query: str
    max_tokens: int


class TransitionTask(TypedDict):
    stage: Stage
    parent: Scored
    parent_index: int
    sample: int
    level: int
    seed: int  # the run's seed: each sample's own seed is drawn from it and the child's id
    sampling: dict[str, Any]  # the run's Sampling (optimizer temperature, JSON reply cap)


class GenerateTask(TypedDict):
    candidate: Candidate
    query: str
    icl: list[ICLExample]
    aspects: AspectSelection
    sampling: dict[str, Any]
    then: AfterJudge  # where the judge's verdict goes (see JudgeTask)


class JudgeTask(TypedDict):
    candidate: Candidate
    query: str
    output: str
    aspects: AspectSelection
    sampling: dict[str, Any]
    # the node the verdict goes to, set by the router that sent the scoring: the search's
    # prune_beam, a --patience check's check_progress, or validation's choose_prompt /
    # confirm_prompt (no router per judge task; a judge may read it to tell the rounds apart)
    then: AfterJudge


def config_of(raw: dict[str, Any]) -> RunConfig:
    """The validated RunConfig of a state's ``config`` dict."""
    return RunConfig.model_validate(raw)


def seeded_hash(seed: int, key: str) -> str:
    """A reproducible hash of the run seed and a key (a candidate id): tie breaks, sample seeds."""
    return hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()


def make_candidate(id: str, track: str, level: int, parent: str | None, text: str) -> Candidate:
    """A state s of the search (the one constructor of Candidate)."""
    return {"id": id, "track": track, "level": level, "parent": parent, "text": text}


def candidate_of(proposal: Proposal) -> Candidate:
    return make_candidate(proposal["id"], proposal["track"], proposal["level"],
                          proposal["parent"], proposal["text"])  # fmt: skip
