"""The LLM-call cache of a run dir: SQLite with JSON values (LangChain message dicts), never
pickle, shared by the runs of RUN_DIR by default; and the session of one execution of a run
(usage so far, budget, cache, limits) that the model hooks consult (drpo/core/session.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drpo.core.config import Context, RunConfig
from drpo.core.prices import role_prices
from drpo.core.session import ROLES, Budget, Session
from drpo.core.usage import USAGE_FILE, Usage
from drpo.runtime.file_checks import StateFileError, check_cache


class LLMCache:
    """SQLite table key -> JSON replies; one connection shared by threads under a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_cache(self.path, create=True)  # damaged: one line naming it, before any write
        self._lock = threading.Lock()
        with self._damage():
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            with self._lock, self._db:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, "
                    "model TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL)"
                )

    @contextmanager
    def _damage(self) -> Iterator[None]:
        """A database error names the cache file (it can be set aside: --llm-cache off)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StateFileError(
                f"{self.path}: the LLM-call cache cannot be used ({exc}); move it away, or run "
                "with --llm-cache off"
            ) from None

    def get(self, key: str) -> str | None:
        with self._lock, self._damage():
            row = self._db.execute("SELECT value FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, model: str, value: str) -> None:
        with self._lock, self._damage(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)",
                (key, model, value, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    def clear(self) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM llm_cache")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cache_file(root: Path, where: str | None) -> Path:
    """The LLM-call cache file of a context's ``llm_cache`` setting (not "off")."""
    return Path(where) if where else root / "llm_cache.sqlite"


def open_session(
    run_dir: Path, root: Path, context: Context, config: RunConfig | None = None
) -> Session:
    """The session of one execution of a run: its usage so far, budget, cache and limits.
    ``context.llm_cache``: None -> ROOT/llm_cache.sqlite (shared by the runs of ROOT),
    "off" -> no cache, else a path (e.g. shared by several run dirs)."""
    where = context.llm_cache
    cache = None if where == "off" else LLMCache(cache_file(root, where))
    sampling = (config or RunConfig()).sampling
    return Session(
        usage=Usage(run_dir / USAGE_FILE),
        budget=Budget(context.max_calls, context.max_tokens, context.max_usd),
        cache=cache,
        requests_per_second=context.requests_per_second,
        prices=role_prices(context.specs(), context.prices),
        caps={**dict.fromkeys(ROLES, sampling.json_max_tokens), "base": sampling.base_max_tokens},
    )
