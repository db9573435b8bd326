"""Checks of the files a run keeps its state in, so that a damaged or missing one is one line
that names it (exit 2), never a traceback, a silent restart or a new empty file.

SQLite files are checked read-only: ``immutable=1`` when no write-ahead log exists (SQLite then
creates no -wal/-shm file), ``mode=ro`` otherwise (those files exist already).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from drpo.llm.usage import read_usage
from drpo.runtime.checkpointer_url import is_postgres, redact
from drpo.runtime.runlock import is_held, writer_active
from drpo.runtime.wal import wal_problem

SQLITE_HEADER = b"SQLite format 3\x00"
CHECKPOINTS = "checkpoints.sqlite"
DAMAGED = (
    "the run cannot be shown or resumed as it was: restore the file and its -wal from a "
    "backup, or start the run again"
)


class StateFileError(RuntimeError):
    """A state file (checkpoints, store, call cache, run.json) that is missing or damaged.
    Not a ValueError: never taken for a bad reply (call_json re-samples those) nor retried."""


def read_only_uri(path: Path) -> str:
    """A URI that opens ``path`` without writing to it or next to it."""
    wal = path.with_name(path.name + "-wal").exists()
    return f"{path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"


def sqlite_problem(path: Path) -> str | None:
    """What is wrong with an SQLite file, or None when it reads back whole."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if path.is_dir():
        return "is a directory"
    if size == 0:
        return "is empty (0 bytes)"
    with path.open("rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return "is not an SQLite database"
    if problem := wal_problem(path):  # SQLite would read a damaged log as an older state
        return problem
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"is damaged ({exc})"
    if rows != [("ok",)]:
        return f"is damaged ({str(rows[0][0])[:120]})"
    return None


def has_table(path: Path, table: str) -> bool:
    """Whether an (intact) SQLite file has ``table``; read-only."""
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(query, (table,)).fetchone() is not None
    finally:
        conn.close()


def create_sqlite(path: Path) -> None:
    """Create an empty SQLite database (WAL) at ``path`` unless one exists, atomically: built
    aside and linked into place, so a concurrent run never sees a half-made (0-byte) file."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of this call's own: two runs of one process (drpo reproduce) create it together
    aside = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.new")
    conn = sqlite3.connect(aside)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # writes the header; persists in the file
    finally:
        conn.close()
    try:
        os.link(aside, path)  # fails if another run made it first: theirs is as good
    except FileExistsError:
        pass
    finally:
        aside.unlink()


def check_sqlite(path: Path, what: str, advice: str = "", create: bool = False) -> None:
    """Raise StateFileError naming ``path`` if it exists and is damaged (``create``: make an
    empty one when missing)."""
    if create:
        create_sqlite(path)
    if not path.exists():
        return
    if (problem := sqlite_problem(path)) is not None:
        raise StateFileError(f"{path}: {what} {problem}{'; ' + advice if advice else ''}")


def started(run_dir: Path) -> str | None:
    """Evidence that a run has been executed (so its checkpoints must exist), or None."""
    result = run_dir / "result.json"
    if result.exists():
        try:
            status = json.loads(result.read_text()).get("status", "a result")
        except (OSError, ValueError, AttributeError):
            status = "a result"
        return f"{result.name} records {status!r}"
    usage = read_usage(run_dir)
    made = sum(row.get("calls", 0) + row.get("cache_hits", 0) for row in usage.values())
    if made:
        return f"usage.jsonl records {made} model calls"
    return None


def check_checkpoints(run_dir: Path) -> None:
    """A run's SQLite checkpoints: damaged, or missing although the run has been executed."""
    file = run_dir / CHECKPOINTS
    if file.exists():
        check_sqlite(file, "the run's checkpoint database", DAMAGED)
        if not has_table(file, "checkpoints") and (why := started(run_dir)):
            raise StateFileError(
                f"{file}: the run's checkpoint database holds no checkpoints, but {why} (was "
                f"its write-ahead log {file.name}-wal deleted?); {DAMAGED}"
            )
    elif why := started(run_dir):
        raise StateFileError(
            f"{file}: the run's checkpoint database is missing, but {why}; the run cannot be "
            "shown or resumed"
        )


def check_store(root: Path, create: bool = False) -> None:
    check_sqlite(
        root / "store.sqlite",
        "the store shared by the runs of this run dir",
        "it holds their level records and seed plans (drpo/core/records.py) and the "
        "aspect-selection cache: restore it from a backup",
        create,
    )


def check_cache(path: Path, create: bool = False) -> None:
    check_sqlite(
        path,
        "the LLM-call cache",
        "move it away, or run with --llm-cache off (the run itself is not affected)",
        create,
    )


def no_checkpoints(run_dir: Path, run_id: str, url: str | None) -> None:
    """Called when the checkpointer holds nothing for the run: an error if it should."""
    if (why := started(run_dir)) is None:
        return  # a run that has not been executed yet
    if is_postgres(url):
        where = f"{redact(str(url))}: holds no checkpoints of run {run_id!r}"
    elif (run_dir / CHECKPOINTS).exists():
        where = f"{run_dir / CHECKPOINTS}: holds no checkpoints of run {run_id!r}"
    else:
        where = f"{run_dir / CHECKPOINTS}: the run's checkpoint database is missing"
    raise StateFileError(f"{where}, but {why}; the run cannot be shown or resumed")


@asynccontextmanager
async def reading(run_dir: Path, url: str | None, read_only: bool) -> AsyncIterator[None]:
    """Turn a database error while a run's state is used into one line that names it."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if is_postgres(url):
            raise
        where = str(run_dir / CHECKPOINTS)
        if not read_only:
            where += f" or {run_dir.parent / 'store.sqlite'}"
        raise StateFileError(f"{where}: cannot be read ({exc})") from None
    except Exception as exc:
        if not (read_only and is_postgres(url) and type(exc).__module__.startswith("psycopg")):
            raise
        reason = " ".join(str(exc).split())[:200]
        raise StateFileError(f"{redact(str(url))}: cannot read checkpoints ({reason})") from None


def read_meta(file: Path) -> dict[str, Any] | None:
    """A run's run.json (None: there is none); a damaged one is an error naming it."""
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{file}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise StateFileError(
            f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}); the file is damaged"
        ) from None
    if not isinstance(meta, dict):
        raise StateFileError(f"{file}: expected a JSON object; the file is damaged")
    for key in ("config", "context"):
        if not isinstance(meta.get(key), dict):
            raise StateFileError(f"{file}: no {key!r} object; the file is damaged")
    return meta


def check_run(
    run_dir: Path, root: Path, url: str | None, cache: Path | None, read_only: bool = False
) -> None:
    """The state files a writer of the run needs (``cache``: None when the cache is off); a
    reader needs the checkpoints only, checked unless another process is writing them."""
    sqlite = not is_postgres(url)
    if sqlite and not read_only:
        check_checkpoints(run_dir)
        check_store(root)
    elif sqlite and (is_held(run_dir) or not writer_active(run_dir)):
        check_checkpoints(run_dir)
        if (root / "store.sqlite").exists():  # the level records a reader shows
            check_store(root)
    if cache is not None and not read_only:
        check_cache(cache)
