"""Budgets: --max-calls / --max-tokens stop a run cleanly and resume finishes it; --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drpo.cli.budget import EXIT_BUDGET
from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.llm.cost import expected_calls
from tests.conftest import fake_spec, read_log, show
from tests.support.runs import comparable, optimize

ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "0",
        "--select", "last-beam"]  # fmt: skip
SAME = ("best_system_prompt", "best_reward", "icl_examples", "levels", "icl_levels", "calls")


def _optimize(run_dir: Path, run_id: str, log: Path, *extra: str) -> int:
    return optimize(run_dir, run_id, fake_spec(log), *ARGS, *extra)


def test_max_calls_stops_and_resume_finishes_like_an_unbudgeted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _optimize(tmp_path / "ref", "ref", tmp_path / "ref.jsonl") == 0
    total = len(read_log(tmp_path / "ref.jsonl"))
    assert total == 48

    log, runs = tmp_path / "b.jsonl", tmp_path / "b"
    assert _optimize(runs, "b", log, "--max-calls", "20") == EXIT_BUDGET
    err = capsys.readouterr().err
    assert "budget reached: 20 model calls made (--max-calls 20)" in err
    assert "drpo resume b" in err and "Traceback" not in err
    assert len(read_log(log)) == 20  # no call starts once the budget is spent
    stopped = show(runs, "b")
    assert stopped["status"] == "in progress" and stopped["pending"] == []
    assert sum(row["calls"] for row in stopped["usage"].values()) == 20

    # a resume without a larger budget stops again at once, making no call
    assert main(["resume", "b", "--run-dir", str(runs)]) == EXIT_BUDGET
    assert len(read_log(log)) == 20
    assert main(["resume", "b", "--run-dir", str(runs), "--max-calls", "30"]) == EXIT_BUDGET
    assert len(read_log(log)) == 30
    assert main(["resume", "b", "--run-dir", str(runs), "--max-calls", "1000"]) == 0

    got, want = show(runs, "b"), show(tmp_path / "ref", "ref")
    for key in SAME:
        assert comparable(got)[key] == comparable(want)[key], key
    # every call was made once: the stops wasted nothing
    keys = [(r["kind"], r["key"]) for r in read_log(log)]
    assert len(keys) == len(set(keys)) == total


def test_max_tokens_stops_and_resume_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, runs = tmp_path / "t.jsonl", tmp_path / "t"
    assert _optimize(runs, "t", log, "--max-tokens", "3000") == EXIT_BUDGET
    assert "tokens used (--max-tokens 3000)" in capsys.readouterr().err
    usage = show(runs, "t")["usage"]
    used = sum(row["input_tokens"] + row["output_tokens"] for row in usage.values())
    assert used >= 3000
    made = len(read_log(log))
    assert 0 < made < 48
    assert main(["resume", "t", "--run-dir", str(runs), "--max-tokens", "10000000"]) == 0
    assert show(runs, "t")["status"] == "finished"
    assert len(read_log(log)) == 48


def test_dry_run_prints_the_estimate_and_calls_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "dry.jsonl"
    assert _optimize(tmp_path / "runs", "dry", log, "--dry-run") == 0
    out = capsys.readouterr().out
    assert not log.exists() and not (tmp_path / "runs").exists()
    config = RunConfig.model_validate(
        {
            "icl": {"n": 2, "D": 2},
            "system_prompt": {"W": 2, "M": 2, "D": 3, "K": 0, "seeds": 6, "select": "last-beam"},
        }
    )
    expected = expected_calls(config, 2)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    for role, calls in expected.items():
        assert int(rows[role][0]) == calls, role
    assert int(rows["total"][0]) == sum(expected.values()) == 48
    # paper A.5: W*M*D = 12 per role in stage 2, plus n*W*M*D = 4 in stage 1
    assert [int(rows[r][1]) for r in ("selector", "optimizer", "base", "judge")] == [5, 16, 12, 16]


@pytest.mark.parametrize(
    "flag", [["--max-calls", "0"], ["--max-tokens", "-5"], ["--max-concurrency", "0"]]
)
def test_bad_budget_flags_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    assert _optimize(tmp_path, "x", tmp_path / "x.jsonl", *flag) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("drpo: error: --max-") and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_usage_is_json_in_the_run_dir(tmp_path: Path) -> None:
    log, runs = tmp_path / "u.jsonl", tmp_path / "u"
    assert _optimize(runs, "u", log, "--max-calls", "5") == EXIT_BUDGET
    lines = [json.loads(line) for line in (runs / "u" / "usage.jsonl").read_text().splitlines()]
    assert sum(line.get("calls", 0) for line in lines) == 5 == len(read_log(log))
    assert {line["role"] for line in lines} <= {"selector", "optimizer", "base", "judge"}


def test_usage_file_counts_whole_lines_and_skips_a_torn_last_one(tmp_path: Path) -> None:
    from drpo.llm.usage import Usage

    path = tmp_path / "usage.jsonl"
    usage = Usage(path)
    usage.add("judge", calls=1)
    usage.add("judge", input_tokens=7, output_tokens=3, micro_usd=2)
    usage.add("base", calls=1)
    usage.close()
    assert Usage(path).as_dict()["judge"]["input_tokens"] == 7  # one parse of every line
    with path.open("a") as f:
        f.write('{"role": "base", "calls": 1}\n\n{"role": "base", "cal')  # killed mid-line
    again = Usage(path).as_dict()
    assert again["base"]["calls"] == 2 and again["judge"] == usage.as_dict()["judge"]
