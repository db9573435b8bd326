"""The fake model answers every JSON schema the project sends with a reply that validates, and
the holistic judge (a schema of its own) runs a whole search on it."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from drpo.core.schemas import (
    AspectSelectionReply,
    PromptTransitionReply,
    ResponseTransitionReply,
    judge_schema,
    validate_judge_reply,
)
from drpo.llm.backends.registry import get_chat_model
from drpo.llm.calls import call_json
from drpo.llm.judges import Overall
from evals.judge import reply_schema
from evals.parse import parse_judge_reply
from tests.conftest import fake_context, fake_spec, read_log, run_once, small_config

ASPECTS = ["Helpfulness", "Clarity", "Safety"]


class Color(StrEnum):
    red = "red"
    blue = "blue"


class Inner(BaseModel):
    label: str = Field(min_length=3, max_length=8)
    weight: float = Field(ge=0.5, le=2)


class Odd(BaseModel):
    """A schema no node sends: nested model, list, enum, optional, bool, bounds."""

    color: Color
    items: list[Inner] = Field(min_length=2)
    note: str | None = None
    flag: bool
    count: int = Field(ge=10, le=12)


def _ask(schema: type[BaseModel] | dict[str, Any], log: Path, **kw: Any) -> Any:
    model = get_chat_model(fake_spec(log))
    return asyncio.run(call_json(model, schema, "A prompt.", name="test", retries=1, **kw))


@pytest.mark.parametrize(
    "schema",
    [AspectSelectionReply, PromptTransitionReply, ResponseTransitionReply, Overall, Odd],
    ids=lambda s: s.__name__,
)
def test_fake_answers_pydantic_schemas(tmp_path: Path, schema: type[BaseModel]) -> None:
    log = tmp_path / "calls.jsonl"
    reply = _ask(schema, log)  # one attempt only: the first reply must validate
    assert isinstance(reply, schema)
    assert len(read_log(log)) == 1


def test_fake_answers_judge_schemas(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    data = _ask(judge_schema(ASPECTS), log)
    scores = validate_judge_reply(data, ASPECTS)
    assert sorted(scores) == sorted(ASPECTS) and all(1 <= s.score <= 5 for s in scores.values())
    aspects = ("helpfulness", "clarity")  # the evaluation judge names its reason "reason"
    data = _ask(reply_schema(aspects), log)
    assert set(data) == set(aspects) and all(set(v) == {"reason", "score"} for v in data.values())
    assert set(parse_judge_reply(json.dumps(data), aspects)) == set(aspects)
    assert [r["kind"] for r in read_log(log)] == ["judge", "judge"]


def test_holistic_judge_runs_a_search(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    # one overall score for every aspect ends an ICL track at a 5: compare whole searches
    config = small_config(select="last-beam")
    config["icl"]["stop_at_max"] = False
    holistic = run_once(
        tmp_path / "h",
        "h",
        fake_context(fake_spec(log), judge_node="holistic", llm_cache="off"),
        config,
    )
    dynamic = run_once(
        tmp_path / "d",
        "d",
        fake_context(fake_spec(tmp_path / "d.jsonl"), llm_cache="off"),
        config,
    )
    assert holistic["status"] == "finished"
    # as many judgements as the dynamic judge makes (one per answer), each a real model call
    assert holistic["calls"]["judge"] == dynamic["calls"]["judge"] > 0
    assert sum(r["kind"] == "judge" for r in read_log(log)) == holistic["calls"]["judge"]
    # one overall score per answer, used for every aspect: each reward is that whole score
    rewards = [c["reward"] for lv in holistic["records"]["system_prompt"] for c in lv["candidates"]]
    assert rewards and all(r == int(r) and 1 <= r <= 5 for r in rewards)
    assert [r["best_reward"] for r in holistic["levels"]] != [
        r["best_reward"] for r in dynamic["levels"]
    ]
