"""Kill a real `drpo optimize` process in the middle of a fan-out, resume it, compare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from drpo.summary import comparable
from tests.conftest import read_log

ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "2",
        "--select", "last-beam"]  # fmt: skip


def _drpo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drpo.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _show(run_dir: Path, run_id: str) -> dict:
    out = _drpo("show", run_id, "--run-dir", str(run_dir), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_sigkill_mid_fanout_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    ref_log, log = tmp_path / "ref.jsonl", tmp_path / "killed.jsonl"
    ref = _drpo(
        "optimize",
        "--run-dir",
        str(tmp_path / "ref"),
        "--run-id",
        "ref",
        "--models",
        f"fake:latency_ms=150,log={ref_log}",
        *ARGS,
    )
    assert ref.returncode == 0, ref.stderr
    total = len(read_log(ref_log))
    assert total == 48  # selector 6, optimizer 14, base 11, judge 17

    spec = f"fake:latency_ms=150,log={log}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drpo.cli",
            "optimize",
            "--run-dir",
            str(tmp_path / "k"),
            "--run-id",
            "k",
            "--models",
            spec,
            *ARGS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 240
    while len(read_log(log)) < 30 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.075)  # half a call: the next batch of calls is in flight
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_log(log))
    assert 30 <= before < total

    mid = _show(tmp_path / "k", "k")
    assert mid["status"] == "in progress"
    resumed = _drpo("resume", "k", "--run-dir", str(tmp_path / "k"))
    assert resumed.returncode == 0, resumed.stderr

    got, want = _show(tmp_path / "k", "k"), _show(tmp_path / "ref", "ref")
    for key in (
        "best_system_prompt",
        "best_reward",
        "icl_examples",
        "levels",
        "icl_levels",
        "calls",
        "seed_order",
    ):
        assert comparable(got)[key] == comparable(want)[key], key
    # no finished call was made twice: the calls of both processes are exactly the reference's
    keys = [(r["kind"], r["key"]) for r in read_log(log)]
    assert len(keys) == len(set(keys)) == total
    assert Counter(k for k, _ in keys) == Counter(r["kind"] for r in read_log(ref_log))
