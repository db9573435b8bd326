"""A budget that always ends in a validated prompt: with --max-calls the search stops at the
level after which selection and confirmation would no longer fit, and the run still races,
confirms and returns P*; a budget too small for one level is refused before anything exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.core.data import load_icl
from drpo.llm.budget_plan import Plan, least_budget, level_calls, reserve
from drpo.runtime.runner import Run
from tests.conftest import show

ARGS = ["--models", "fake", "--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "6",
        "-K", "0", "--seeds", "40", "--validation", "8", "--confirm", "24",
        "--llm-cache", "off"]  # fmt: skip


def _config() -> RunConfig:
    return RunConfig.model_validate({
        "icl": {"n": 2, "D": 1},
        "system_prompt": {"W": 2, "M": 2, "D": 6, "K": 0, "seeds": 40, "validation": 8,
                          "confirm": 24},
    })  # fmt: skip


def test_a_budget_stops_the_search_and_still_returns_a_validated_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["optimize", "--run-dir", str(runs), "--run-id", "b", *ARGS,
                 "--max-calls", "200"]) == 0  # fmt: skip
    result = show(runs, "b")
    stop = result["budget_stop"]
    assert stop is not None and stop["level"] < 6  # the search stopped early ...
    assert [row["level"] for row in result["levels"]] == list(range(stop["level"] + 1))
    v = result["validation"]
    assert v["select"] == "race" and v["rule"] in ("confirmed", "not-confirmed", "top-is-initial")
    assert result["best_system_prompt"] == v["chosen"]["text"]  # ... and P* was validated
    made = sum(result["usage"][role]["calls"] for role in result["usage"])
    assert made <= 200
    split = result["phases"]
    assert sum(sum(c.values()) for c in split.values()) == sum(result["calls"].values())
    # the rule: after the last level searched, the next one and the reserve did not fit
    config = _config()
    searched = sum(split["search"].values())
    nxt = sum(level_calls(config, stop["level"] + 1).values())
    assert searched + nxt + sum(reserve(config, 2, 40, stop["level"] + 1).values()) > 200
    out = capsys.readouterr().out
    assert f"note: the search stopped after level {stop['level']}" in out
    assert "LLM calls by phase: search" in out
    # a larger budget searches on from that level, then selects and confirms again
    assert main(["resume", "b", "--run-dir", str(runs), "--max-calls", "100000"]) == 0
    assert "searching on after stage-2 level" in capsys.readouterr().err
    more = show(runs, "b")
    assert more["budget_stop"] is None and [r["level"] for r in more["levels"]] == list(range(7))
    def rows(view: dict) -> list[dict]:  # type: ignore[type-arg]
        return [{k: v for k, v in r.items() if k != "checkpoint_id"} for r in view["levels"]]

    assert rows(more)[: stop["level"] + 1] == rows(result)  # the levels it had, kept
    assert more["validation"]["rule"] and more["best_system_prompt"] == more["validation"][
        "chosen"
    ]["text"]
    # a resume without a larger budget leaves a finished run as it is
    assert main(["resume", "b", "--run-dir", str(runs)]) == 0
    assert show(runs, "b")["levels"] == more["levels"]


PRICES = {"base": (1.0, 2.0), "optimizer": (3.0, 6.0), "judge": (2.0, 4.0), "selector": (1.0, 1.0)}


def test_a_dollar_budget_too_small_for_one_level_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config()
    icl = load_icl(config.icl_path)[:2]
    by_role = least_budget(config, icl, None)["by_role"]
    least = Plan(None, 1.0, dict(PRICES)).usd(config, icl, by_role)
    runs = tmp_path / "runs"
    prices = [f"--price={role}={i}/{o}" for role, (i, o) in PRICES.items()]
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "s", *ARGS, *prices]
    short = f"{least * 0.99:.4f}"
    assert main([*argv, "--max-usd", short]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"drpo: error: --max-usd {float(short):g} is too small: one stage-2 level, the "
                   f"selection and the confirmation may cost up to ${least:.2f}; give at least "
                   "that"]  # fmt: skip
    assert not runs.exists()
    assert main([*argv, "--max-usd", f"{least * 1.01:.4f}"]) == 0  # the least that works, works
    result = show(runs, "s")
    assert result["validation"]["chosen"] and result["budget_stop"] is not None


def test_a_call_budget_too_small_for_one_level_stays_a_hard_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config()
    least = least_budget(config, load_icl(config.icl_path)[:2], None)["calls"]
    runs = tmp_path / "runs"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "c", *ARGS, "--max-calls", "10"]
    assert least > 10 and main(argv) == 3  # stopped at the cap, resumable
    err = capsys.readouterr().err
    assert f"--max-calls 10 is below the {least} calls that one stage-2 level" in err
    assert main(["resume", "c", "--run-dir", str(runs), "--max-calls", "100000"]) == 0


@pytest.mark.parametrize(
    "value,words",
    [("-5", "expected a number of calls"), ("0", "expected a number of calls"),
     ("1.5", "at most 1"), ("nan", "expected a number"), ("3", "is too small: racing up to"),
     ("100000", "larger than the run's budget (--max-calls 5000)")],
)  # fmt: skip
def test_bad_select_budgets_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, words: str
) -> None:
    runs = tmp_path / "runs"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "x", *ARGS, "--max-calls", "5000"]
    assert main([*argv, f"--select-budget={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not runs.exists()


def test_the_selection_keeps_to_its_budget(tmp_path: Path) -> None:
    """With --select-budget the race runs on as many validation queries as the budget affords:
    its calls (an answer, a judgement per scoring, a selection per query) stay within it."""
    runs = tmp_path / "runs"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "sb", *ARGS, "--select-budget", "40"]
    assert main(argv) == 0
    result = show(runs, "sb")
    v = result["validation"]
    assert sum(result["phases"]["selection"].values()) <= 40
    assert len(v["queries"]) < 8  # fewer than the 8 validation queries planned
    config, _ = Run(runs, "sb").load()
    assert config.system_prompt.select_budget == 40
