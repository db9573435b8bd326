"""Dynamic reward: aspect selection validation and its cross-run cache."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from drpo.core.aspects import ASPECTS
from drpo.core.schemas import AspectSelectionReply, judge_schema, validate_judge_reply
from tests.conftest import fake_context, fake_spec, read_log, run_once, small_config

ANALYSIS = {
    k: "x" for k in ("main_topic", "user_intent", "ambiguities", "response_format", "challenges")
}


def _reply(selected: list[str], new: list[dict[str, str]] | None = None) -> AspectSelectionReply:
    return AspectSelectionReply.model_validate(
        {
            "query_analysis": ANALYSIS,
            "aspects_selection": {
                "reasoning": "r",
                "selected_aspects": selected,
                "new_aspects": new or [],
            },
        }
    )


def test_selection_normalises_names_and_accepts_new_aspects() -> None:
    reply = _reply(
        ["helpfulness", "critical thinking"],
        [{"name": "Humor", "description": "Is playful where it fits the query."}],
    )
    assert reply.aspects() == {  # predefined names get the predefined descriptions
        "Helpfulness": ASPECTS["Helpfulness"],
        "Critical-Thinking": ASPECTS["Critical-Thinking"],
        "Humor": "Is playful where it fits the query.",
    }
    assert list(reply.aspects()) == ["Helpfulness", "Critical-Thinking", "Humor"]


@pytest.mark.parametrize(
    "selected,new",
    [
        (["Helpfulness"], []),  # fewer than 2
        (
            ["Helpfulness", "Clarity", "Depth", "Safety", "Empathy"],
            [{"name": "Humor", "description": "Playful where it fits."}],
        ),  # more than 5 in all
        (["Helpfulness", "Nonsense"], []),  # unknown, no description
    ],
)
def test_selection_rejects_bad_replies(selected: list[str], new: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        _reply(selected, new)


def test_judge_reply_validation() -> None:
    aspects = ["Helpfulness", "Critical-Thinking"]
    good = {
        "helpfulness": {"rationale": "ok", "score": "4"},
        "Critical-Thinking": {"rationale": "ok", "score": 3},
    }
    scores = validate_judge_reply(good, aspects)
    assert {k: v.score for k, v in scores.items()} == {"Helpfulness": 4.0, "Critical-Thinking": 3.0}
    with pytest.raises(ValueError, match="lacks aspect 'Critical-Thinking'"):
        validate_judge_reply({"Helpfulness": good["helpfulness"]}, aspects)
    with pytest.raises(ValueError, match="bad score"):
        validate_judge_reply({**good, "helpfulness": {"rationale": "", "score": 7}}, aspects)
    assert judge_schema(aspects)["required"] == aspects


def test_second_run_on_another_base_model_makes_no_selection_calls(tmp_path: Path) -> None:
    first_log, second_log = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first = run_once(tmp_path, "one", fake_context(fake_spec(first_log)), small_config())
    selections = first["calls"]["selector"]
    assert selections == 2 + 4 + 2  # ICL queries, level queries, validation queries
    # another base model (a different spec), same selector model, same run dir (shared store)
    context = fake_context(fake_spec(second_log), base=fake_spec(tmp_path / "base2.jsonl"))
    second = run_once(tmp_path, "two", context, small_config())
    assert "selector" not in second["calls"]
    assert second["calls"]["selector_cache_hits"] == selections
    assert Counter(r["kind"] for r in read_log(second_log))["select"] == 0
    assert Counter(r["kind"] for r in read_log(tmp_path / "base2.jsonl")) == {
        "generate": second["calls"]["base"]
    }
    assert second["calls"]["base"] == 11 + 10  # levels; validation: 5 prompts on 2 queries
