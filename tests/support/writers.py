"""The run's writer lock seen from outside (tests/support/soak.py): whether a pid holds it, a
plain `drpo resume` refused while it is held, a `drpo resume --wait` parked on it."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.support.kills import drpo, launch, wait_for


def probe_refused(proc: Any, run_dir: Path, run_id: str, store: list[str]) -> bool | None:
    """A plain resume while the run is written: refused, naming the writer (None: the writer
    ended meanwhile, so the probe proves nothing)."""
    out = drpo("resume", run_id, "--run-dir", str(run_dir), "--llm-cache", "off", *store)
    if proc.poll() is not None:
        return None
    lines = out.stderr.strip().splitlines()
    return out.returncode == 2 and len(lines) == 1 and f"pid {proc.pid}" in lines[0]


def holds_lock(lock: Path, pid: int) -> bool:
    """Whether ``pid`` holds the run's lock (the file may be a stale one of a killed writer)."""
    try:
        return lock.read_text().startswith(f"pid {pid} ")
    except FileNotFoundError:
        return False


def park_waiter(log: Path, proc: Any, args: list[str]) -> Any:
    """A `drpo resume --wait`, stopped (SIGSTOP) once it waits on the lock."""
    mark = log.stat().st_size if log.exists() else 0
    waiter = launch(*args, "--wait", stderr=log)
    wait_for(
        lambda: (
            "waiting for" in log.read_text()[mark:]
            or proc.poll() is not None
            or waiter.poll() is not None
        ),
        120,
        "the waiting process",
    )
    if waiter.poll() is not None:  # it ended instead of waiting: say why
        raise RuntimeError(
            f"the waiting process exited {waiter.returncode}: {log.read_text()[mark:]}"
        )
    os.kill(waiter.pid, signal.SIGSTOP)
    return waiter
