"""Benchmark 3: resume waste. A real ``drpo optimize`` process (fake model, 50 ms per call) is
killed with SIGKILL at a random point and resumed; calls made in total / calls of an
uninterrupted run (target 1.00), with the LLM cache (default) and without it (--llm-cache off:
the checkpointer alone). The fake model logs a call when it completes, so a call cut off by the
kill is not counted (a remote provider may bill it).

    python -m benchmarks resume_waste
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result
from tests.support.runs import comparable

TRIALS = int(os.environ.get("DRPO_BENCH_TRIALS", "10"))
LATENCY_MS = 50
ARGS = ["--icl", "1", "--icl-D", "1", "-W", "2", "-M", "3", "-D", "4", "-K", "0", "--seeds", "10"]
SAME = ("best_system_prompt", "best_reward", "levels", "icl_examples", "calls")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _drpo(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "drpo.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _show(run_dir: Path, run_id: str) -> dict[str, Any]:
    out = _drpo("show", run_id, "--run-dir", str(run_dir), "--json")
    return dict(json.loads(out.stdout))


def trial(root: Path, i: int, total: int, cache: bool, rng: random.Random) -> dict[str, Any]:
    run_dir, log = root / f"t{i}", root / f"t{i}.jsonl"
    extra = [] if cache else ["--llm-cache", "off"]
    spec = f"fake:latency_ms={LATENCY_MS},log={log}"
    cmd = [sys.executable, "-m", "drpo.cli", "optimize", "--run-dir", str(run_dir)]
    cmd += ["--run-id", "r", "--models", spec, *ARGS, *extra]
    kill_at, pause = rng.randint(1, total - 2), rng.uniform(0, LATENCY_MS / 1000)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    while _lines(log) < kill_at and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(pause)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _lines(log)
    resumed = _drpo("resume", "r", "--run-dir", str(run_dir))
    return {
        "killed_after_calls": before,
        "killed": killed,
        "resume_rc": resumed.returncode,
        "calls": _lines(log),
        "result": _show(run_dir, "r"),
    }


def main() -> dict[str, Any]:
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ref_log = root / "ref.jsonl"
        spec = f"fake:latency_ms={LATENCY_MS},log={ref_log}"
        done = _drpo(
            "optimize", "--run-dir", str(root / "ref"), "--run-id", "ref", "--models", spec, *ARGS
        )
        assert done.returncode == 0, done.stderr
        total, ref = _lines(ref_log), _show(root / "ref", "ref")
        data: dict[str, Any] = {
            "latency_ms": LATENCY_MS,
            "args": ARGS,
            "uninterrupted_calls": total,
        }
        for mode in ("cache", "no_cache"):
            rows = [trial(root / mode, i, total, mode == "cache", rng) for i in range(TRIALS)]
            ratios = [row["calls"] / total for row in rows]
            data[mode] = {
                "trials": TRIALS,
                "killed_mid_run": sum(row["killed"] for row in rows),
                "killed_after_calls": [row["killed_after_calls"] for row in rows],
                "calls_total_over_uninterrupted": [round(r, 3) for r in ratios],
                "mean_waste_ratio": round(sum(ratios) / len(ratios), 4),
                "max_waste_ratio": round(max(ratios), 4),
                "resumes_ok": sum(row["resume_rc"] == 0 for row in rows),
                "same_result_as_uninterrupted": sum(
                    all(comparable(row["result"])[k] == comparable(ref)[k] for k in SAME)
                    for row in rows
                ),
                "differing_keys": [
                    [k for k in SAME if comparable(row["result"])[k] != comparable(ref)[k]]
                    for row in rows
                ],
            }
            print(
                f"resume waste ({mode}): mean {data[mode]['mean_waste_ratio']}, max "
                f"{data[mode]['max_waste_ratio']} over {TRIALS} kills (target 1.00); "
                f"same result {data[mode]['same_result_as_uninterrupted']}/{TRIALS}"
            )
    write_result("resume_waste", data)
    return data


if __name__ == "__main__":
    main()
