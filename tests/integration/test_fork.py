"""Forking a run at any level of either stage (issue: one level-granular graph)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import read_log, show
from tests.support.runs import comparable

ARGS = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "4", "--seeds", "12", "-K", "1"]
SAME = ("level", "queries", "aspects", "beam", "best_reward", "candidates")


def _parent(runs: Path, log: Path, *extra: str) -> dict:
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "p", "--models", f"fake:log={log}"]
    assert main([*argv, *ARGS, *extra]) == 0
    return show(runs, "p")


def _rows(levels: list[dict], upto: int) -> list[dict]:
    return [{k: row[k] for k in SAME} for row in levels if row["level"] <= upto]


def test_fork_at_level_2_with_another_judge_reuses_levels_0_to_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, parent_log, fork_log = tmp_path / "runs", tmp_path / "p.jsonl", tmp_path / "f.jsonl"
    parent = _parent(runs, parent_log)
    capsys.readouterr()
    argv = ["fork", "p", "--level", "2", "--run-dir", str(runs), "--run-id", "f"]
    assert main([*argv, "--judge-node", "holistic", "--models", f"fake:log={fork_log}"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "f"  # prints the new run id
    fork = show(runs, "f")
    assert fork["status"] == "finished"
    assert fork["forked_from"]["run_id"] == "p" and fork["forked_from"]["level"] == 2
    assert fork["forked_from"]["stage"] == "system_prompt"
    assert fork["forked_from"]["checkpoint_id"] == parent["levels"][2]["checkpoint_id"]
    # levels 0..2 are the parent's; 3..4 are new, judged by the holistic judge
    assert _rows(fork["levels"], 2) == _rows(parent["levels"], 2)
    assert [row["level"] for row in fork["levels"]] == [0, 1, 2, 3, 4]
    assert comparable(fork)["icl_levels"] == comparable(parent)["icl_levels"]
    assert fork["icl_examples"] == parent["icl_examples"]

    def verdicts(rows: list[dict], levels: range) -> list[set[tuple[float, str]]]:
        return [
            {(s["score"], s["rationale"]) for s in e["scores"].values()}
            for r in rows
            if r["level"] in levels
            for c in r["candidates"]
            for e in c["evaluations"]
        ]

    # the holistic judge gives one overall score and rationale for every aspect of an answer;
    # the parent's dynamic judge scored the aspects one by one
    assert all(len(v) == 1 for v in verdicts(fork["records"]["system_prompt"], range(3, 5)))
    assert any(len(v) > 1 for v in verdicts(parent["records"]["system_prompt"], range(1, 3)))
    # the fork's calls: W*M transitions at each of levels 3 and 4 (a rerun of levels 1..2
    # would add 2 + 4 more), one answer and one judge call per new prompt, no selection
    kinds = Counter(r["kind"] for r in read_log(fork_log))
    assert kinds["transition"] == 2 * (2 * 2)
    assert kinds.get("select", 0) == 0
    validated = len(fork["validation"]["candidates"]) * len(fork["validation"]["queries"])
    assert kinds["generate"] == 8 + validated


def test_fork_with_another_m_and_at_an_icl_level(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    parent = _parent(runs, tmp_path / "p.jsonl", "--select", "last-beam")
    log = tmp_path / "f.jsonl"
    argv = ["fork", "p", "--run-dir", str(runs), "--models", f"fake:log={log}"]
    assert main([*argv, "--level", "3", "-M", "3", "--run-id", "m3"]) == 0
    m3 = show(runs, "m3")
    assert _rows(m3["levels"], 3) == _rows(parent["levels"], 3)
    assert m3["levels"][4]["candidates"] + m3["levels"][4]["dropped_duplicates"] == 2 * 3
    # a fork at stage 1's level 0 redoes stage 1 from its initial responses with D=2
    assert main([*argv, "--level", "0", "--stage", "icl", "--icl-D", "2", "--run-id", "i"]) == 0
    icl = show(runs, "i")
    assert [row["level"] for row in icl["icl_levels"]] == [0, 1, 2]
    assert comparable(icl["icl_levels"][0]) == comparable(parent["icl_levels"][0])


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["fork", "nope", "--level", "1"], "no run 'nope'"),
        (["fork", "p", "--level", "9"], "levels that can be forked: 0, 1, 2, 3, 4"),
        (["fork", "p", "--level", "5", "--stage", "icl"], "levels that can be forked: 0, 1"),
        (["fork", "p", "--level", "1", "--stage", "both"], "invalid choice"),
        (["fork", "p", "--level", "1", "--run-id", "p"], "already exists"),
        (["fork", "p", "--level", "1", "--judge", "gpt"], "unknown model spec"),
    ],
)
def test_fork_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    runs = tmp_path / "runs"
    _parent(runs, tmp_path / "p.jsonl", "--select", "last-beam")
    before = sorted(p.name for p in runs.iterdir())
    capsys.readouterr()
    try:
        code = main([*argv, "--run-dir", str(runs)])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in runs.iterdir()) == before


@pytest.mark.parametrize("meta", [{}, {"layout": 2}, {"format": 2}])
def test_a_run_of_an_older_drpo_is_one_line(
    tmp_path: Path, meta: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "runs" / "old"
    old.mkdir(parents=True)
    meta = {"run_id": "old", "config": {}, "context": {}, **meta}
    (old / "run.json").write_text(json.dumps(meta))
    for argv in (["show", "old"], ["resume", "old"], ["fork", "old", "--level", "1"]):
        assert main([*argv, "--run-dir", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "written by another version of drpo" in err[0], err


def _drpo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_fork_resumes_as_the_same_fork(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _parent(runs, tmp_path / "p.jsonl", "--select", "last-beam")
    fork = ["fork", "p", "--level", "1", "--run-dir", str(runs), "--models"]
    ref = _drpo(*fork, f"fake:latency_ms=100,log={tmp_path / 'ref.jsonl'}", "--run-id", "ref")
    assert ref.wait(timeout=300) == 0, ref.stderr.read() if ref.stderr else ""
    log = tmp_path / "k.jsonl"
    half = len(read_log(tmp_path / "ref.jsonl")) // 2  # mid-search (10 calls: at times its end)
    proc = _drpo(*fork, f"fake:latency_ms=100,log={log}", "--run-id", "k")
    deadline = time.monotonic() + 120
    while len(read_log(log)) < half and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the fork finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert show(runs, "k")["status"] == "in progress"
    assert main(["resume", "k", "--run-dir", str(runs), "--models", "fake:latency_ms=0"]) == 0
    got, want = comparable(show(runs, "k")), comparable(show(runs, "ref"))
    for key in ("best_system_prompt", "levels", "icl_examples", "forked_from"):
        if key == "forked_from":
            continue
        assert got[key] == want[key], key
    assert got["forked_from"]["level"] == 1
