"""Kill a real `drpo` process with model calls in flight and account for what resuming repeats.

The fake model writes an ``events`` file: a "start" line when a call starts and a "done" line
when it finishes, each with the call's key and the process id. After a kill, the run's saved
state (read-only, in this process) says how many calls it holds; every other call started so
far was in flight at the kill: started, but its result not saved. The bound checked for each
kill: the calls that the next writer starts again are at most those in flight. With the LLM
cache on, a cached call is not in flight either (its reply is on disk).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

# the environment of every drpo subprocess of the tests (tests/conftest.py adds the session's
# embedding cache to it, so that no test writes to the user's own)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# the run that is killed and resumed (tests/support/soak.py, tests/integration/test_resume.py)
ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "2",
        "--select", "last-beam"]  # fmt: skip
# counted by hand for ARGS: stage 1 (2 examples, D=2): 2 selections, 2 x (1 + 2) judgements,
# 2 x 2 transitions; stage 2 (W=2, M=2, D=3, one query per level): 4 selections,
# 1 + 2 + 4 + 4 answers, one judgement each, 2 + 4 + 4 transitions
PER_ROLE = {"base": 11, "judge": 17, "optimizer": 14, "selector": 6}


def fake_spec(work: Path, name: str, latency_ms: int = 150) -> tuple[str, Path]:
    """The fake model's spec with a call log and an events file in ``work``; the events file."""
    ev = work / f"{name}.events.jsonl"
    return f"fake:latency_ms={latency_ms},log={work / f'{name}.jsonl'},events={ev}", ev


def drpo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "drpo.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


def launch(*args: str, stderr: Path | None = None) -> subprocess.Popen[bytes]:
    err = stderr.open("ab") if stderr else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", *args], stdout=subprocess.DEVNULL, stderr=err, env=ENV
    )


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line torn by the kill: that call never started
            continue
    return rows


def starts(rows: list[dict[str, Any]], pids: set[int] | None = None) -> list[str]:
    return [r["key"] for r in rows if r["event"] == "start" and (pids is None or r["pid"] in pids)]


def done(rows: list[dict[str, Any]]) -> list[str]:
    return [r["key"] for r in rows if r["event"] == "done"]


ROLE_OF_KIND = {"select": "selector", "transition": "optimizer", "generate": "base"}


def roles(rows: list[dict[str, Any]], keys: set[str]) -> dict[str, int]:
    """Calls per role (the fake's kinds named as the roles that make them)."""
    seen = {r["key"]: r["kind"] for r in rows}
    return dict(sorted(Counter(ROLE_OF_KIND.get(seen[k], seen[k]) for k in keys).items()))


def saved_state(run_dir: Path, run_id: str, checkpointer: str | None) -> dict[str, Any]:
    """The run's summary read back read-only (what `drpo show --json` prints), without the
    checkpoint ids (which differ between two runs of the same search)."""
    from drpo.runtime.runner import Run, summary
    from tests.support.runs import comparable

    return comparable(asyncio.run(summary(Run(run_dir, run_id, checkpointer, read_only=True))))


def saved_calls(state: dict[str, Any]) -> int:
    """Model calls whose results the saved state holds (cache hits of the store excluded)."""
    return sum(v for k, v in state["calls"].items() if not k.endswith("_cache_hits"))


def cached_calls(cache: Path) -> int:
    if not cache.exists():
        return 0
    conn = sqlite3.connect(f"{cache.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])
    finally:
        conn.close()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


def repeats(rows: list[dict[str, Any]], writers: list[int], killed: list[int]) -> list[int]:
    """For each killed writer (in order): the calls started by the writer after it that had
    already been started by it or an earlier writer."""
    out = []
    for pid in killed:
        i = writers.index(pid)
        before = set(starts(rows, set(writers[: i + 1])))
        after = starts(rows, {writers[i + 1]}) if i + 1 < len(writers) else []
        out.append(sum(1 for key in after if key in before))
    return out


def check_kills(
    rows: list[dict[str, Any]], writers: list[int], records: list[dict[str, Any]]
) -> list[str]:
    """The bound for every kill of a writer: calls started again <= calls in flight at it."""
    killed = [r for r in records if r["writer"]]
    again = repeats(rows, writers, [r["pid"] for r in killed])
    problems = []
    for record, count in zip(killed, again, strict=True):
        record["started_again"] = count
        if count > record["in_flight"]:
            problems.append(
                f"kill of pid {record['pid']}: {count} calls started again, "
                f"{record['in_flight']} in flight"
            )
    return problems


def kill(
    proc: subprocess.Popen[bytes],
    ev: Path,
    state: dict[str, Any],
    cache: Path | None,
    writer: bool,
    during: str,
) -> dict[str, Any]:
    """Account for a process just killed: ``state`` is the run's saved state read after it."""
    rows = events(ev)
    started = set(starts(rows))
    saved = saved_calls(state)
    held = max(saved, cached_calls(cache)) if cache else saved
    mine = {proc.pid}
    return {
        "pid": proc.pid,
        "writer": writer,  # False: killed while it waited on the lock
        "during": during,
        "started_so_far": len(started),
        "saved_calls": saved,
        "in_flight": len(started) - held if writer else 0,
        "cut_off": len(starts(rows, mine))
        - sum(1 for r in rows if r["event"] == "done" and r["pid"] == proc.pid),
    }
