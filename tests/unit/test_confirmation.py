"""Two-stage validation: the best prompt on the validation queries (stage A) must beat the initial
prompt on fresh confirmation queries (stage B) to be returned; judges of system prompts that call
no model (tests/custom_judge.py) make the outcome known."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from drpo.cli.main import main
from drpo.llm.cost import expected_calls
from drpo.runtime.runner import Run
from tests.conftest import read_log, show
from tests.support.runs import optimize

BASE = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "-K", "1"]


def _optimize(runs: Path, run_id: str, log: Path, *extra: str) -> int:
    """A run with the rule before racing (every candidate on every validation query, one
    confirmation look) unless ``extra`` names another; tests/unit/test_racing.py races."""
    select = [] if "--select" in extra else ["--select", "validation"]
    return optimize(runs, run_id, f"fake:log={log}", *BASE, *select, *extra)


def _confirmed(tmp_path: Path, run_id: str, judge: str, *extra: str) -> dict:
    runs = tmp_path / "runs"
    args = ["--seeds", "20", "--validation", "6", "--confirm", "8", "--judge-node", judge]
    assert _optimize(runs, run_id, tmp_path / f"{run_id}.jsonl", *args, *extra) == 0
    return show(runs, run_id)


def test_the_best_on_validation_is_confirmed_on_fresh_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _confirmed(tmp_path, "c", "tests.custom_judge:tips_judge")
    out = capsys.readouterr().out
    v, c = result["validation"], result["validation"]["confirmation"]
    levels = {q for row in result["levels"] for q in row["queries"]}
    # 4 level queries, 6 validation, 8 confirmation: three disjoint sets of the seed order
    assert len(levels) == 4 and len(v["queries"]) == 6 and len(c["queries"]) == 8
    assert not (set(c["queries"]) & (levels | set(v["queries"])))
    assert result["seed_order"][10:18] == c["queries"]
    assert v["candidates"][0]["sources"][:1] == ["initial"]
    # a rewrite's tips make it better on every query: P_top (the latest level) is confirmed
    assert v["top"]["source"] == "level:3" and v["rule"] == "confirmed" and v["significant"]
    assert v["chosen"]["id"] == v["top"]["id"]
    assert result["best_system_prompt"] == v["chosen"]["text"]
    assert c["top"]["rewards"] == [4.0] * 8 and c["initial"]["rewards"] == [1.0] * 8
    assert c["difference"]["mean"] == 3.0
    # calls: levels 1 + 2 + 4 + 4 answers; validation 5 prompts x 6; confirmation 2 x 8
    assert result["calls"]["base"] == 11 + 5 * 6 + 2 * 8
    assert result["calls"]["selector"] == 2 + 4 + 6 + 8  # ICL, level, validation, confirmation
    assert Counter(r["kind"] for r in read_log(tmp_path / "c.jsonl"))["generate"] == 57
    config, _ = Run(tmp_path / "runs", "c").load()
    assert expected_calls(config, 2)["base"] == 57 and expected_calls(config, 2)["selector"] == 20
    assert "confirmation of level:3 on 8 fresh queries" in out
    assert "level:3 beats the initial prompt: P* is level:3" in out
    # the pack carries the figures P* was chosen by
    pack = tmp_path / "pack.json"
    assert main(["export", "c", "--run-dir", str(tmp_path / "runs"), "-o", str(pack)]) == 0
    assert json.loads(pack.read_text())["validation"] == v


def test_a_lucky_best_on_validation_that_fails_confirmation_returns_the_initial_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _confirmed(tmp_path, "l", "tests.custom_judge:lucky_judge")
    v, c = result["validation"], result["validation"]["confirmation"]
    assert v["top"]["id"] != v["initial"]["id"] and v["top"]["mean"] == 5.0  # lucky on validation
    assert c["top"]["mean"] == 1.0 and c["initial"]["mean"] == 2.0 and not c["significant"]
    assert v["rule"] == "not-confirmed" and not v["significant"]
    assert v["chosen"]["id"] == v["initial"]["id"]
    assert result["best_system_prompt"] == "You are a helpful assistant."
    out = capsys.readouterr().out
    assert "does NOT significantly beat the initial prompt: P* is initial" in out


@pytest.mark.parametrize(
    "extra,rule", [(["--gate", "none"], "highest-mean"), (["--confirm", "0"], "validation-gate")]
)
def test_without_confirmation(tmp_path: Path, extra: list[str], rule: str) -> None:
    runs = tmp_path / "runs"
    args = ["--seeds", "20", "--validation", "6", "--judge-node", "tests.custom_judge:tips_judge"]
    assert _optimize(runs, "n", tmp_path / "n.jsonl", *args, *extra) == 0
    result = show(runs, "n")
    v = result["validation"]
    assert v["rule"] == rule and v["confirmation"] is None and not result["notes"]
    assert result["calls"]["base"] == 11 + 5 * 6  # no confirmation answers
    assert v["chosen"]["id"] == v["top"]["id"]  # the tips make the latest rewrite significant
    assert result["best_system_prompt"] == v["chosen"]["text"]


def test_a_run_failing_during_confirmation_resumes_without_repeating_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, judged = tmp_path / "fail", tmp_path / "judged.jsonl"
    flag.touch()
    monkeypatch.setenv("DRPO_TEST_FAIL", str(flag))
    monkeypatch.setenv("DRPO_TEST_JUDGE_LOG", str(judged))
    runs, log = tmp_path / "runs", tmp_path / "f.jsonl"
    args = ["--seeds", "20", "--validation", "6", "--confirm", "8",
            "--judge-node", "tests.custom_judge:failing_confirmation_judge"]  # fmt: skip
    assert _optimize(runs, "f", log, *args) == 1
    before = show(runs, "f")
    assert before["status"] == "in progress" and before["validation"]["confirmation"] is None
    first = judged.read_text().splitlines()
    flag.unlink()
    assert main(["resume", "f", "--run-dir", str(runs)]) == 0
    after = show(runs, "f")
    assert after["validation"]["rule"] == "confirmed"
    generated = [r["key"] for r in read_log(log) if r["kind"] == "generate"]
    assert len(generated) == len(set(generated)) == 11 + 5 * 6 + 2 * 8  # none made twice
    rows = [tuple(json.loads(line)) for line in judged.read_text().splitlines()]
    assert len(rows) == len(set(rows))  # no finished judgement made again
    confirmation = set(after["validation"]["confirmation"]["queries"])
    assert sum(q in confirmation for _, q in map(json.loads, first)) == 2 * 8 - 1
    assert len(rows) == len(first) + 1  # the resumed run judged only the failed task's answer
    assert main(["optimize", "--run-dir", str(runs), "--run-id", "g", "--models",
                 f"fake:log={tmp_path / 'g.jsonl'}", *BASE, "--select", "validation",
                 *args]) == 0  # fmt: skip
    assert after["validation"] == show(runs, "g")["validation"]  # as a run that never failed
