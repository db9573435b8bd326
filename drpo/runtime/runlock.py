"""One writer per run: an exclusive lock on a file in the run folder (``fcntl.flock``).

The kernel drops the lock when its process exits or is killed, so a lock left behind by a
killed process is stale the moment it dies: the next writer takes it over and says so. The file
names its holder (pid, host) for the message a second writer gets; it is removed on release.
Within one process the lock is re-entrant along a task's context: the CLI holds it around
loading, saving and executing a run, and ``execute`` takes it again without blocking itself.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol, TypeVar

LOCK_FILE = "writer.lock"
POLL_S = 0.1
_HELD: ContextVar[frozenset[str]] = ContextVar("drpo_run_locks", default=frozenset())


class RunLocked(ValueError):
    """Another process is writing this run."""


class _Run(Protocol):
    @property
    def dir(self) -> Path: ...
    @property
    def id(self) -> str: ...


class RunLock:
    """The lock of one run folder; ``try_acquire`` never blocks."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.run_id = run_id
        self.stale: str | None = None  # the holder named by a lock left behind by a killed process
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:  # the holder before us may have removed the file between our open and flock
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = -1
            if current != os.fstat(fd).st_ino:
                os.close(fd)
                continue
            previous = os.pread(fd, 256, 0).decode(errors="replace").strip()
            self.stale = previous or None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            self._fd = fd
            return True

    def holder(self) -> str:
        try:
            text = self.path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text or "another process"

    def refusal(self) -> RunLocked:
        return RunLocked(
            f"run {self.run_id!r} is being written by {self.holder()} (lock {self.path}); "
            "wait until it ends, or resume with --wait"
        )

    def acquire(self) -> None:
        if not self.try_acquire():
            raise self.refusal()

    async def acquire_async(self, wait: bool = False) -> None:
        told = False
        while not self.try_acquire():
            if not wait:
                raise self.refusal()
            if not told:
                _say(f"waiting for {self.holder()} to finish writing run {self.run_id}")
                told = True
            await asyncio.sleep(POLL_S)
        if self.stale:
            _say(f"run {self.run_id}: took over the lock left by {self.stale} (no longer running)")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: waiters re-open the path
        finally:
            os.close(self._fd)
            self._fd = None


def _say(line: str) -> None:
    print(f"drpo: {line}", file=sys.stderr, flush=True)


def is_held(run_dir: Path) -> bool:
    """Whether this task already holds the run's lock."""
    return str(Path(run_dir).resolve()) in _HELD.get()


def writer_active(run_dir: Path) -> bool:
    """Whether some process holds the run's lock (a read-only probe: creates nothing)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@asynccontextmanager
async def mark_held(run_dir: Path) -> AsyncIterator[None]:
    """Record in this task's context that it holds the run's lock (taken elsewhere)."""
    token = _HELD.set(_HELD.get() | {str(Path(run_dir).resolve())})
    try:
        yield
    finally:
        _HELD.reset(token)


@asynccontextmanager
async def hold(run: _Run, wait: bool = False) -> AsyncIterator[None]:
    """Hold the run's lock (re-entrant in this task); RunLocked if another process has it and
    ``wait`` is false. Creates the run folder if needed."""
    if is_held(run.dir):
        yield
        return
    run.dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run.dir, run.id)
    await lock.acquire_async(wait)
    try:
        async with mark_held(run.dir):
            yield
    finally:
        lock.release()


R = TypeVar("R")


def one_writer(
    fn: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    """Decorate ``async def f(run, ...)`` so that it runs under the run's lock."""

    @functools.wraps(fn)
    async def locked(run: Any, *args: Any, **kwargs: Any) -> R:
        async with hold(run):
            return await fn(run, *args, **kwargs)

    return locked
