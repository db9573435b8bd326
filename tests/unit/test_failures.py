"""Malformed replies, clear errors, resumability, and bad input on the command line."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import fake_context, fake_spec, read_log, run_once, show, small_config
from tests.support.files import tree_digest


def test_malformed_replies_are_retried(tmp_path: Path, log_path: Path) -> None:
    context = fake_context(fake_spec(log_path), parse_retries=6)
    context.judge_model = fake_spec(log_path, malformed_rate=0.3)
    result = run_once(tmp_path, "flaky", context, small_config())
    clean = run_once(
        tmp_path / "clean", "clean", fake_context(fake_spec(tmp_path / "c.jsonl")), small_config()
    )
    # the same search result as without faults, with more calls made (the retries)
    assert result["best_system_prompt"] == clean["best_system_prompt"]
    assert result["calls"] == clean["calls"]
    made = Counter(r["kind"] for r in read_log(log_path))
    base = Counter(r["kind"] for r in read_log(tmp_path / "c.jsonl"))
    assert made["judge"] > base["judge"] and made["generate"] == base["generate"]


def test_judge_that_never_parses_fails_clearly_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fake_spec(tmp_path / "good.jsonl")
    bad = fake_spec(tmp_path / "bad.jsonl", malformed_rate=1)
    args = [
        "optimize",
        "--run-dir",
        str(tmp_path),
        "--run-id",
        "r",
        "--models",
        good,
        "--judge",
        bad,
        "--icl",
        "2",
        "--icl-D",
        "1",
        "-W",
        "1",
        "-M",
        "1",
        "-D",
        "1",
        "--seeds",
        "2",
        "-K",
        "1",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert re.search(r"judge icl/0[01]:L00 on query '.+': the reply did not parse after 5 att", err)
    assert "drpo resume r" in err and "Traceback" not in err
    assert Counter(r["kind"] for r in read_log(tmp_path / "bad.jsonl"))["judge"] >= 5
    before = show(tmp_path, "r")
    assert before["status"] == "in progress"
    # selections finished before the failure are kept: resuming makes no new selection calls
    assert main(["resume", "r", "--run-dir", str(tmp_path), "--judge", good]) == 0
    after = show(tmp_path, "r")
    assert after["status"] == "finished" and after["best_system_prompt"]
    selected = Counter(r["kind"] for r in read_log(tmp_path / "good.jsonl"))["select"]
    assert selected == 2 + 2  # 2 ICL queries + 2 level queries, each selected once


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["-W", "0"], "W"),
        (["-D", "-1"], "D"),
        (["-K", "9", "--icl", "3"], "K=9 is larger than the ICL pool (3)"),
        (["--base", "gpt-9"], "unknown model spec 'gpt-9'"),
        (["--judge-node", "nope"], "unknown judge 'nope'"),
        (["--judge-node", "json:nothing_here"], "cannot import judge"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code = main(
        ["optimize", "--run-dir", str(tmp_path), "--run-id", "x", "--models", "fake", *argv]
    )
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bad_files_and_ids_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text("{not json")
    base = ["--run-dir", str(tmp_path)]
    assert main(["optimize", *base, "--config", str(cfg), "--models", "fake"]) == 2
    icl = tmp_path / "icl.json"
    icl.write_text(json.dumps([{"query": "q"}]))
    cfg.write_text(json.dumps({"icl_path": str(icl)}))
    assert main(["optimize", *base, "--config", str(cfg), "--models", "fake"]) == 2
    assert "icl.json: entry [0]: 'response': Field required" in capsys.readouterr().err
    assert main(["resume", "missing", *base]) == 2
    assert main(["show", "missing", *base]) == 2
    assert "no run 'missing'" in capsys.readouterr().err
    # an existing run is never overwritten
    run_once(
        tmp_path,
        "done",
        fake_context(fake_spec(tmp_path / "l.jsonl")),
        {"icl": {"n": 1, "D": 1}, "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 1}},
    )
    snapshot = tree_digest(tmp_path / "done")
    assert (
        main(["optimize", *base, "--run-id", "done", "--models", "fake", "--icl", "1", "-K", "1"])
        == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert tree_digest(tmp_path / "done") == snapshot
