"""Crash soak: SIGKILL real `drpo` processes (fake model) at random moments, resume each time,
and check that every finished run equals an uninterrupted run.

A kill lands after a random number (1..6) of newly finished model calls plus a random fraction
of a call, i.e. with calls in flight, in any node of either stage. Runs of the same config are
killed and resumed until ``--kills`` kills have happened; each finished run is compared with the
reference (best prompt, reward, ICL examples, levels, calls, seed order).

    python -m benchmarks.crash_soak --kills 20 [--checkpointer postgresql://...] [--seed 1]

writes benchmarks/results/crash_soak[_postgres].json. tests/test_resume.py and
tests/test_postgres.py run a short version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from drpo.summary import comparable

ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "2"]
COMPARED = ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls", "seed_order")
LATENCY_MS = 150


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def drpo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "drpo.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())


def _calls(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(r["kind"], r["key"]) for r in rows]


def show(run_dir: Path, run_id: str, store: list[str]) -> dict[str, Any]:
    out = drpo("show", run_id, "--run-dir", str(run_dir), "--json", *store)
    if out.returncode != 0:
        raise RuntimeError(f"drpo show {run_id} failed: {out.stderr.strip()}")
    return dict(json.loads(out.stdout))


def reference(work: Path, store: list[str]) -> tuple[dict[str, Any], int]:
    """An uninterrupted run: its summary and its number of model calls."""
    log = work / "ref.jsonl"
    spec = f"fake:latency_ms={LATENCY_MS},log={log}"
    run_dir, run_id = work / "ref", f"ref-{os.getpid()}-{time.time_ns()}"
    out = drpo(
        "optimize", "--run-dir", str(run_dir), "--run-id", run_id, "--models", spec, *ARGS, *store
    )
    if out.returncode != 0:
        raise RuntimeError(f"reference run failed: {out.stderr.strip()}")
    return show(run_dir, run_id, store), len(_calls(log))


def killed_run(
    work: Path, run_id: str, kills_left: int, rng: random.Random, store: list[str]
) -> dict[str, Any]:
    """One run, killed up to ``kills_left`` times and resumed until it finishes."""
    log = work / f"{run_id}.jsonl"
    run_dir = work / run_id  # its own aspect store: no cache hits from the other runs
    spec = f"fake:latency_ms={LATENCY_MS},log={log}"
    start = ["optimize", "--run-id", run_id, "--models", spec, *ARGS]
    kills, launches = 0, 0
    while True:
        args = start if launches == 0 else ["resume", run_id]
        launches += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "drpo.cli", *args, "--run-dir", str(run_dir), *store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        if kills < kills_left:
            target = len(_calls(log)) + rng.randint(1, 6)
            deadline = time.monotonic() + 120
            while len(_calls(log)) < target and proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"{run_id}: no progress in 120 s")
                time.sleep(0.005)
            time.sleep(rng.uniform(0, LATENCY_MS / 1000))  # mid-call: others are in flight
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{run_id}: drpo {args[0]} exited {proc.returncode}: {err[-500:]}")
        break
    calls = _calls(log)
    return {
        "run_id": run_id,
        "kills": kills,
        "launches": launches,
        "calls_made": len(calls),
        "calls_repeated": len(calls) - len(set(calls)),
        "by_kind": dict(Counter(k for k, _ in calls)),
        "summary": show(run_dir, run_id, store),
    }


def _same(summary: dict[str, Any], key: str) -> Any:
    """A shared PostgreSQL store serves aspect selections across runs (by design): a cached
    selection counts as a selection here."""
    value = comparable(summary)[key]
    if key == "calls":
        value = dict(value)
        value["selector"] = value.get("selector", 0) + value.pop("selector_cache_hits", 0)
    return value


def soak(work: Path, kills: int, seed: int, checkpointer: str | None = None) -> dict[str, Any]:
    """Kill and resume runs until ``kills`` kills; every run must equal the reference."""
    store = ["--checkpointer", checkpointer] if checkpointer else []
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    started = time.monotonic()
    want, ref_calls = reference(work, store)
    runs: list[dict[str, Any]] = []
    while sum(r["kills"] for r in runs) < kills:
        left = kills - sum(r["kills"] for r in runs)
        run_id = f"soak-{seed}-{len(runs)}-{time.time_ns()}"
        runs.append(killed_run(work, run_id, left, rng, store))
    mismatches = [
        {"run_id": r["run_id"], "key": key}
        for r in runs
        for key in COMPARED
        if _same(r["summary"], key) != _same(want, key)
    ]
    return {
        "kills": sum(r["kills"] for r in runs),
        "runs": len(runs),
        "launches": sum(r["launches"] for r in runs),
        "reference_calls": ref_calls,
        "calls_made": [r["calls_made"] for r in runs],
        "calls_repeated": [r["calls_repeated"] for r in runs],
        "mismatches": mismatches,
        "checkpointer": "postgres" if checkpointer else "sqlite",
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpointer", help="postgresql://... (default: SQLite)")
    p.add_argument("--work", type=Path, default=Path("runs/crash_soak"))
    args = p.parse_args()
    result = soak(args.work, args.kills, args.seed, args.checkpointer)
    print(json.dumps(result, indent=2))
    name = "crash_soak_postgres" if args.checkpointer else "crash_soak"
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(1 if result["mismatches"] else 0)


if __name__ == "__main__":
    main()
