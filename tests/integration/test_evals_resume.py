"""Kill a real `drpo eval` process while it judges, run it again: finished items are not redone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from evals.benchmark import load_items
from tests.conftest import read_log

IDS = "15,30,46,48,51,54,800,900,985"


def _eval(run_dir: Path, spec: str, eval_id: str) -> list[str]:
    return [
        sys.executable, "-m", "drpo.cli", "eval", "--methods", "base", "--ids", IDS,
        "--base", spec, "--judge", spec, "--run-dir", str(run_dir), "--eval-id", eval_id,
        "--concurrency", "2",
    ]  # fmt: skip


def _cached(run_dir: Path, node: str) -> int:
    with sqlite3.connect(run_dir / "eval_cache.sqlite") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM cache WHERE ns LIKE ?", (f"%{node}%",)
        ).fetchone()
    return int(count)


def test_kill_and_rerun_redoes_only_unfinished_items(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "calls.jsonl"
    spec = f"fake:latency_ms=300,log={log}"
    run_dir = tmp_path / "runs"
    proc = subprocess.Popen(
        _eval(run_dir, spec, "e1"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while sum(r["kind"] == "judge" for r in read_log(log)) < 3:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_log(log)
    judged_before = sum(r["kind"] == "judge" for r in first)
    cached = _cached(run_dir, "judge_item")
    total = len(load_items(ids=[int(i) for i in IDS.split(",")]))
    assert 0 < cached < total and cached <= judged_before
    assert _cached(run_dir, "answer_item") == total  # all answered before judging began

    done = subprocess.run(_eval(run_dir, spec, "e1"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = read_log(log)[len(first) :]
    assert [r for r in resumed if r["kind"] == "generate"] == []
    assert sum(r["kind"] == "judge" for r in resumed) == total - cached
    assert f"judge_item: {total}/{total} ({cached} from cache)" in done.stderr

    # the result equals an uninterrupted run (another cache, the same deterministic model)
    fresh = tmp_path / "fresh"
    once = subprocess.run(_eval(fresh, spec, "e1"), env=env, capture_output=True, text=True)
    assert once.returncode == 0, once.stderr
    a = json.loads((run_dir / "evals/e1/result.json").read_text())
    b = json.loads((fresh / "evals/e1/result.json").read_text())
    assert [(r["id"], r["scores"], r["output"]) for r in a["items"]] == [
        (r["id"], r["scores"], r["output"]) for r in b["items"]
    ]
    assert a["methods"][0]["summary"] == b["methods"][0]["summary"]
