"""``--patience``: the search stops when it stops improving (nodes/check.py), end to end on the
real graph with a judge that calls no model. With tests.custom_judge:tips_judge a prompt scores
1 + its tips, and the fake optimizer keeps at most 4: the search improves until level 4, then
every level's best ties the best so far, which is no progress."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.core.racing import Patience
from drpo.core.state import make_candidate
from drpo.llm.cost import phase_calls
from drpo.runtime.runner import Run
from nodes.check import check_progress
from tests.conftest import show
from tests.support.runs import comparable

JUDGE = "tests.custom_judge:tips_judge"
ARGS = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "10", "-K", "1",
        "--seeds", "40", "--validation", "8", "--confirm", "16", "--judge-node", JUDGE]  # fmt: skip


def _optimize(runs: Path, run_id: str, *extra: str) -> dict[str, Any]:
    argv = ["optimize", "--run-dir", str(runs), "--run-id", run_id, "--models", "fake", *ARGS]
    assert main([*argv, *extra]) == 0
    return show(runs, run_id)


def test_the_search_stops_after_n_checks_without_a_better_prompt(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    full = _optimize(runs, "full")
    stopped = _optimize(runs, "p2", "--patience", "2")
    checks = stopped["progress_checks"]
    # level 2's best (2 tips: 3.0) beats P (1.0), level 4's (4 tips: 5.0) beats it; those of
    # levels 6 and 8 tie (4 tips): two checks in a row without a better prompt end the search
    assert [(c["level"], c["better"]) for c in checks] == [
        (2, True), (4, True), (6, False), (8, False)
    ]  # fmt: skip
    assert [c["best_mean"] for c in checks] == [1.0, 3.0, 5.0, 5.0]
    assert stopped["stall"]["level"] == 8 and "--patience 2" in stopped["stall"]["reason"]
    assert [r["level"] for r in stopped["levels"]] == list(range(9))
    assert [r["level"] for r in full["levels"]] == list(range(11))
    assert any("the search stopped after level 8" in n for n in stopped["notes"])

    # the levels both searched are the same; the stopped run still selects and confirms P*
    assert comparable(stopped)["levels"] == comparable(full)["levels"][:9]
    v = stopped["validation"]
    assert v["rule"] == "confirmed" and stopped["best_system_prompt"].count("- Tip") == 4
    # the checks' calls: P and the first best on 4 queries, then one best per check
    extra = (2 + 1 + 1 + 1) * 4
    levels_saved = full["calls"]["optimizer"] - stopped["calls"]["optimizer"]
    assert levels_saved == 2 * 2 * 2  # levels 9 and 10: 2 parents x M=2 rewrites
    raced = sum(len(x["rewards"]) for x in v["candidates"])
    confirmed = 2 * len(v["confirmation"]["queries"])
    search_base = stopped["calls"]["base"] - raced - confirmed
    assert search_base == 1 + 2 + 4 * 7 + extra  # levels 0..8 answer one query each
    config, _ = Run(runs, "p2").load()
    bound = phase_calls(config, 2, 40)["search"]["base"]
    assert search_base <= bound == 1 + 2 + 4 * 9 + (4 + 1) * 4  # checks at 2, 4, 6, 8


def test_a_fork_after_a_check_does_not_check_that_level_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _optimize(runs, "p", "--patience", "2")
    argv = ["fork", "p", "--level", "6", "--run-dir", str(runs), "--run-id", "f"]
    assert main([*argv, "--models", "fake", "--judge-node", JUDGE]) == 0
    fork = show(runs, "f")
    assert [c["level"] for c in fork["progress_checks"]] == [2, 4, 6, 8]
    assert fork["stall"]["level"] == 8


def test_checks_fall_on_every_second_level_but_the_last() -> None:
    rule = Patience(3)
    assert [lv for lv in range(12) if rule.due(lv, 10)] == [2, 4, 6, 8]
    assert rule.calls(10, True) == {"selector": 4, "optimizer": 0, "base": 20, "judge": 20}
    assert rule.calls(2, True)["base"] == 0  # D=2: no level is checked


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--patience", "0"], "greater than or equal to 1"),
        (["--patience", "2", "--select", "last-beam"], "not with select=last-beam"),
    ],
)
def test_bad_patience_is_one_line_and_writes_nothing(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["optimize", "--run-dir", str(runs), "--models", "fake", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not runs.exists()


def _check(progress: dict[str, Any], level: int, top: str, rewards: list[float]) -> dict[str, Any]:
    """check_progress after a check whose level's best ``top`` scored ``rewards``."""
    cand = make_candidate(top, "system_prompt", level, None, top)
    queries = [f"q{i}" for i in range(len(rewards))]
    state: Any = {
        "config": RunConfig.model_validate({"system_prompt": {"patience": 2}}).model_dump(),
        "progress": {**progress, "top": cand, "pending": True},
        "frontier": [cand],
        "evaluations": [
            {"candidate": cand, "query": q, "output": "", "scores": {}, "reward": r}
            for q, r in zip(queries, rewards, strict=True)
        ],  # fmt: skip
        "level_queries": queries,
        "closed": {"stage": "system_prompt", "level": level},
    }
    return asyncio.run(check_progress(state, cast(Any, None)))


def test_a_better_prompt_resets_the_count_of_checks_without_one() -> None:
    p = {"candidate": {"id": "P", "text": "P"}, "rewards": [3.0, 3.0]}
    progress = {"best": p, "misses": 0, "checks": []}
    out = _check(progress, 2, "a", [2.0, 3.0])  # worse: one miss
    assert out["progress"]["misses"] == 1 and "stall" not in out
    out = _check(out["progress"], 4, "b", [4.0, 3.0])  # better: the count starts again
    assert out["progress"]["misses"] == 0 and out["progress"]["best"]["candidate"]["id"] == "b"
    out = _check(out["progress"], 6, "c", [3.0, 4.0])  # a tie is no progress: one miss
    assert out["progress"]["misses"] == 1 and "stall" not in out
    assert out["progress"]["best"]["rewards"] == [4.0, 3.0]
    out = _check(out["progress"], 8, "d", [1.0, 1.0])  # the second in a row: the search stops
    assert out["stall"]["level"] == 8 and "no prompt better than b" in out["stall"]["reason"]
    assert [c["better"] for c in out["progress"]["checks"]] == [False, True, False, False]
