"""Call accounting against the paper's A.5 formulas (exact numbers)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from drpo.core.config import RunConfig
from drpo.llm.cost import expected_calls, paper_a5
from tests.conftest import fake_context, fake_spec, read_log, run_once


def test_calls_per_role_match_a5(tmp_path: Path, log_path: Path) -> None:
    config = {
        "icl": {"n": 3, "W": 1, "M": 1, "D": 5},
        "system_prompt": {"W": 2, "M": 3, "D": 4, "K": 2, "seeds": 10, "select": "last-beam"},
    }
    result = run_once(tmp_path, "calls", fake_context(fake_spec(log_path)), config)
    # By hand. Stage 1, per example: 1 selection, judge s_0 + 5 children = 6, 5 transitions.
    # Stage 2: children per level 3, 6, 6, 6 = 21 transitions; s_0 + 21 scored -> 22 generations
    # and 22 judge calls; levels 0..4 -> 5 selections.
    expected = {"selector": 3 + 5, "optimizer": 3 * 5 + 21, "base": 22, "judge": 3 * 6 + 22}
    assert result["calls"] == expected
    kinds = Counter(row["kind"] for row in read_log(log_path))
    assert kinds == {"select": 8, "transition": 36, "generate": 22, "judge": 40}
    assert expected_calls(RunConfig.model_validate(config), 3) == expected
    # A.5: W*M*D = 24 per role in stage 2; we make M*(W-1) = 3 fewer transitions (level 1 has one
    # parent) and score s_0 once more: 24 - 3 + 1 = 22.
    a5 = paper_a5(2, 3, 4, 3, 1, 1, 5)
    assert a5["optimizer"] - 3 == expected["optimizer"]
    assert a5["base"] - 3 + 1 == expected["base"]
    assert a5["judge"] - 3 + 1 + 3 == expected["judge"]  # + s_0 of each ICL example
    assert a5["selector"] + 1 == expected["selector"]  # + level 0's query


def test_minibatch_scores_every_candidate_on_b_queries(tmp_path: Path, log_path: Path) -> None:
    config = {
        "icl": {"n": 2, "D": 1},
        "system_prompt": {
            "W": 2, "M": 2, "D": 2, "B": 3, "K": 1, "seeds": 20, "validation": 2, "confirm": 0,
        },
    }  # fmt: skip
    result = run_once(tmp_path, "mb", fake_context(fake_spec(log_path)), config)
    # stage 2 children 2 + 4 = 6; scored (1 + 6) * 3 = 21; validation: 1 + D + (W - 1) = 4
    # prompts on 2 queries = 8
    assert result["calls"]["base"] == 21 + 8
    for record in result["records"]["system_prompt"]:
        assert len(record["queries"]) == 3
        for cand in record["candidates"]:
            assert sorted(e["query"] for e in cand["evaluations"]) == record["queries"]
    assert expected_calls(RunConfig.model_validate(config), 2)["base"] == 21 + 8
    assert len(result["validation"]["candidates"]) == 4


def test_static_reward_makes_no_selection_calls(tmp_path: Path, log_path: Path) -> None:
    config = {
        "reward": "static",
        "icl": {"n": 1, "D": 1},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 3},
    }
    result = run_once(tmp_path, "static", fake_context(fake_spec(log_path)), config)
    assert "selector" not in result["calls"]
    for record in result["records"]["system_prompt"]:
        for cand in record["candidates"]:
            assert set(cand["evaluations"][0]["scores"]) == {
                "Helpfulness",
                "Clarity",
                "Factuality",
                "Depth",
                "Engagement",
                "Safety",
            }
