"""Payloads of the ``Send`` tasks: each task carries everything its node needs."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from drpo.config import RunConfig
from drpo.prompting import ICLExample
from drpo.state import AspectSelection, Candidate, Scored, Stage


class SelectTask(TypedDict):
    query: str
    config: dict[str, Any]


class TransitionTask(TypedDict):
    stage: Stage
    parent: Scored
    parent_index: int
    sample: int
    level: int
    config: dict[str, Any]


class GenerateTask(TypedDict):
    candidate: Candidate
    query: str
    icl: list[ICLExample]
    aspects: AspectSelection
    config: dict[str, Any]


class JudgeTask(TypedDict):
    candidate: Candidate
    query: str
    output: str
    aspects: AspectSelection
    config: dict[str, Any]


def run_config(payload: Any) -> RunConfig:
    return RunConfig.model_validate(payload["config"])
