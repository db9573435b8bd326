"""One writer per run: the lock file, its stale-lock takeover, concurrent `drpo resume` and
concurrent creation of one run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from drpo.core.config import RunConfig
from drpo.llm.usage import read_usage
from drpo.runtime.runlock import LOCK_FILE, RunLock, RunLocked, hold, writer_active
from drpo.runtime.runner import Run, RunError
from tests.conftest import fake_context
from tests.support.kills import (
    ARGS,
    ENV,
    PER_ROLE,
    drpo,
    events,
    launch,
    roles,
    starts,
    wait_for,
)
from tests.support.processes import paused

HOLDER = """
import sys, time
from pathlib import Path
from drpo.runtime.runlock import RunLock
lock = RunLock(Path(sys.argv[1]), "r")
assert lock.try_acquire()
print("held", flush=True)
time.sleep(120)
"""


def _holder(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_and_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        lock = RunLock(tmp_path, "r")
        assert writer_active(tmp_path) and not lock.try_acquire()
        with pytest.raises(RunLocked, match=rf"run 'r' is being written by pid {holder.pid} "):
            lock.acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel dropped the lock with the process; its file (naming it) stays behind
    assert (tmp_path / LOCK_FILE).read_text().startswith(f"pid {holder.pid} ")
    assert not writer_active(tmp_path)
    assert lock.try_acquire() and lock.stale is not None
    assert lock.stale.startswith(f"pid {holder.pid} ")
    assert (tmp_path / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} ")
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()  # released: nothing left in the run folder


def test_lock_is_reentrant_in_a_task_and_exclusive_otherwise(tmp_path: Path) -> None:
    run = Run(tmp_path, "r")

    async def main() -> None:
        async with hold(run), hold(run):  # nested in one task (CLI, then execute): no deadlock
            assert not RunLock(run.dir, run.id).try_acquire()  # any other holder is refused
        assert RunLock(run.dir, run.id).try_acquire()

    asyncio.run(main())


def test_waiting_writer_takes_over_after_the_holder_ends(tmp_path: Path) -> None:
    holder = _holder(tmp_path)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, holder.kill)
        start = loop.time()
        await RunLock(tmp_path, "r").acquire_async(wait=True)
        return loop.time() - start

    assert asyncio.run(main()) >= 0.4  # it waited for the kill
    holder.wait()


def test_run_json_is_created_by_exactly_one_of_racing_creators(tmp_path: Path) -> None:
    config, context = RunConfig(), fake_context("fake")
    for trial in range(10):
        barrier, outcomes = threading.Barrier(8), []

        def create(trial: int = trial, barrier: threading.Barrier = barrier) -> bool:
            run = Run(tmp_path, f"t{trial}")
            barrier.wait()
            try:
                run.create(config, context)
            except RunError:
                return False
            return True

        threads = [
            threading.Thread(target=lambda c=create, o=outcomes: o.append(c())) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == [False] * 7 + [True]
        assert sorted(p.name for p in (tmp_path / f"t{trial}").iterdir()) == ["run.json"]


def _pair(*args: str) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "drpo.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return sorted(out, key=lambda o: o.returncode)


def test_two_concurrent_resumes_one_writes_the_other_exits_2(tmp_path: Path) -> None:
    ev = tmp_path / "events.jsonl"
    spec = f"fake:latency_ms=20,events={ev}"
    base = ["--run-dir", str(tmp_path), "--llm-cache", "off"]
    first = drpo("optimize", "--run-id", "r", "--models", spec, *ARGS, *base, "--max-calls", "10")
    assert first.returncode == 3, first.stderr  # stopped at its budget, resumable
    # both resume with a budget of 20 calls: the budget is counted under the lock
    low, high = _pair("resume", "r", *base, "--max-calls", "20")
    assert (low.returncode, high.returncode) == (2, 3), (low.stderr, high.stderr)
    [line] = low.stderr.strip().splitlines()
    assert line.startswith("drpo: error: run 'r' is being written by pid ")
    assert sum(row["calls"] for row in _usage(tmp_path)) == 20 == len(starts(events(ev)))
    # both resume to the end: one finishes, the other is refused; nothing ran twice
    low, high = _pair("resume", "r", *base, "--max-calls", "1000")
    assert (low.returncode, high.returncode) == (0, 2), (low.stderr, high.stderr)
    assert "is being written by pid" in high.stderr and len(high.stderr.splitlines()) == 1
    keys = starts(events(ev))
    assert len(keys) == len(set(keys)) == 48 and roles(events(ev), set(keys)) == PER_ROLE
    assert not (tmp_path / "r" / LOCK_FILE).exists()


def _usage(run_dir: Path) -> list[dict[str, int]]:
    return list(read_usage(run_dir / "r").values())


def test_a_resume_while_the_writer_sets_the_run_up_is_refused_or_waits(tmp_path: Path) -> None:
    # a new run's writer takes the lock, writes run.json, then sets up its checkpoint database:
    # a resume in between finds the database empty, which is the writer's, not damage
    assert drpo("optimize", "--run-dir", str(tmp_path), "--run-id", "r", "--models", "fake",
                *ARGS).returncode == 0  # fmt: skip
    for name in ("checkpoints.sqlite-wal", "checkpoints.sqlite-shm"):
        (tmp_path / "r" / name).unlink(missing_ok=True)
    (tmp_path / "r" / "checkpoints.sqlite").write_bytes(b"")
    holder, err = _holder(tmp_path / "r"), tmp_path / "wait.err"
    try:
        out = drpo("resume", "r", "--run-dir", str(tmp_path))
        assert out.returncode == 2 and f"being written by pid {holder.pid}" in out.stderr, out
        waiter = launch("resume", "r", "--run-dir", str(tmp_path), "--wait", stderr=err)
        wait_for(lambda: "waiting for" in err.read_text() or waiter.poll() is not None, 120,
                 "the waiting resume")  # fmt: skip
        assert waiter.poll() is None, err.read_text()  # it waits
    finally:
        holder.kill()
        holder.wait()
    # the lock is the waiter's now: the files are checked, and the empty database named
    assert waiter.wait(120) == 2 and "checkpoint database is empty" in err.read_text()


def test_optimize_of_a_run_being_written_is_refused(tmp_path: Path) -> None:
    proc = launch("optimize", "--run-dir", str(tmp_path), "--run-id", "r", "--models",
                  "fake:latency_ms=300", *ARGS, "--llm-cache", "off")  # fmt: skip
    try:
        lock, meta = tmp_path / "r" / LOCK_FILE, tmp_path / "r" / "run.json"
        for _ in range(6000):  # the lock is taken before run.json is written
            if lock.exists() and writer_active(tmp_path / "r") and meta.exists():
                break
            assert proc.poll() is None
            threading.Event().wait(0.01)
        with paused(proc):  # the writer holds the lock while the two commands start
            out = drpo("optimize", "--run-dir", str(tmp_path), "--run-id", "r", "--models",
                       "fake", *ARGS)  # fmt: skip
            assert out.returncode == 2 and "already exists" in out.stderr
            ans = drpo("answer", "r", "approve", "--run-dir", str(tmp_path))
            assert ans.returncode == 2 and f"pid {proc.pid}" in ans.stderr, ans.stderr
    finally:
        proc.kill()
        proc.wait()
