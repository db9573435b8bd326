"""The default selection, end to end on the real graph with judges that call no model: the
candidates race rung by rung on the validation queries (the best third goes on), the winner meets
the initial prompt in a sequential test on fresh queries (looks every 8), and the calls made are
exactly those of the rungs and looks that ran."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from drpo.cli.main import main
from drpo.core.racing import SELECTIONS
from drpo.llm.cost import phase_calls
from drpo.runtime.runner import Run
from tests.conftest import show

BASE = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "-K", "1"]
SEARCH_BASE = 1 + 2 + 4 + 4  # the answers of levels 0..3 (one query each)


def _race(tmp_path: Path, run_id: str, judge: str, *extra: str) -> dict[str, Any]:
    runs = tmp_path / "runs"
    log = tmp_path / f"{run_id}.jsonl"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", run_id, "--models", f"fake:log={log}",
            *BASE, "--judge-node", judge, *extra]  # fmt: skip
    assert main(argv) == 0
    return show(runs, run_id)


@pytest.mark.parametrize("judge", ["tips_judge", "noisy_tips_judge"])
def test_the_race_and_the_sequential_test_make_only_the_calls_they_need(
    tmp_path: Path, judge: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _race(tmp_path, "r", f"tests.custom_judge:{judge}",
                   "--seeds", "40", "--validation", "8", "--confirm", "24")  # fmt: skip
    v, c = result["validation"], result["validation"]["confirmation"]
    assert v["select"] == "race" and v["rungs"][0] == 2
    race, test = SELECTIONS["race"].race(8), SELECTIONS["race"].confirmation(24)
    assert race.rungs == (2, 4, 8) and test.looks == (8, 16, 24)
    # rung by rung: every candidate ran rung 0; after rung r, ceil(alive / 3) ran on
    lengths = sorted((len(x["rewards"]) for x in v["candidates"]), reverse=True)
    alive = len(v["candidates"])
    for r, n in enumerate(v["rungs"]):
        assert sum(length >= n for length in lengths) == alive, (r, lengths)
        alive = math.ceil(alive / 3)
    # the top is the best mean among those that ran the last rung
    last = [x for x in v["candidates"] if len(x["rewards"]) == v["rungs"][-1]]
    assert v["top"]["id"] == max(last, key=lambda x: x["mean"])["id"]
    assert all(abs(x["mean"] - fmean(x["rewards"])) < 1e-9 for x in v["candidates"])
    # the looks: each one's n, and the decision of the last one
    assert c is not None
    assert [look["n"] for look in c["looks"]] == list(test.looks[: len(c["looks"])])
    diffs = [t - i for t, i in zip(c["top"]["rewards"], c["initial"]["rewards"], strict=True)]
    assert len(diffs) == c["looks"][-1]["n"] == len(c["queries"])
    assert test.decide(diffs) == ("pass" if c["significant"] else "fail")
    for look in c["looks"][:-1]:  # the earlier looks went on
        assert test.decide(diffs[: look["n"]]) == "continue"
    assert v["rule"] == ("confirmed" if c["significant"] else "not-confirmed")
    # calls: the search, each candidate's rung answers, both prompts' look answers
    raced = sum(len(x["rewards"]) for x in v["candidates"])
    assert result["calls"]["base"] == SEARCH_BASE + raced + 2 * len(c["queries"])
    assert result["calls"]["selector"] == 2 + 4 + len(v["queries"]) + len(c["queries"])
    config, _ = Run(tmp_path / "runs", "r").load()
    bound = phase_calls(config, 2, 40)
    assert raced <= bound["selection"]["base"] and bound["confirmation"]["base"] == 2 * 24
    if judge == "tips_judge":  # constant differences: passes at the first look
        assert c["stopped"] == "success" and len(c["looks"]) == 1
    else:
        assert len(c["looks"]) > 1  # this judge needs more than one look
    out = capsys.readouterr().out
    assert "validation" in out


def test_a_race_of_one_rung_is_the_rule_before_racing(tmp_path: Path) -> None:
    """With 2 validation queries (the first rung's size) every candidate runs them all."""
    result = _race(tmp_path, "one", "tests.custom_judge:tips_judge",
                   "--seeds", "20", "--validation", "2", "--confirm", "8")  # fmt: skip
    v = result["validation"]
    assert v["rungs"] == [2] and all(len(x["rewards"]) == 2 for x in v["candidates"])
