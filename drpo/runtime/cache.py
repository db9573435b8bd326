"""The LLM-call cache of a run dir: SQLite with JSON values (LangChain message dicts), never
pickle, shared by the runs of RUN_DIR by default; and the session of one execution of a run
(usage so far, budget, cache, limits) that the model hooks consult (drpo/llm/session.py)."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drpo.core.config import RunConfig
from drpo.core.context import ROLES, Context
from drpo.llm.prices import role_prices
from drpo.llm.session import Budget, Session
from drpo.llm.usage import USAGE_FILE, Usage
from drpo.runtime.file_checks import StateFileError, check_cache

WRITE_DELAY_S = 0.02  # how long a reply may wait in memory for the others (see put_later)


class LLMCache:
    """SQLite table key -> JSON replies; one connection shared by threads under a lock.

    The keys are also held in memory (read when the cache opens, added by ``put``), so a miss,
    which is every call of a new search, costs no read and no thread: ``may_hold``. An entry
    another process writes after this one opened the cache is not seen (its call is made again,
    as when the two calls had run at the same time). A run's replies are written behind by the
    cache's own thread (``put_later``): the event loop hands them over and goes on."""

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
                self._keys = {str(k) for (k,) in self._db.execute("SELECT key FROM llm_cache")}
        self._pending: dict[str, tuple[str, str]] = {}  # queued, not yet written
        self._pending_lock = threading.Lock()
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()  # False: write the rest, stop
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write_behind, name="drpo-llm-cache")
        self._writer.daemon = True
        self._writer.start()

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

    def may_hold(self, key: str) -> bool:
        return key in self._keys

    def get(self, key: str) -> str | None:
        if key not in self._keys:
            return None
        with self._pending_lock:
            if key in self._pending:
                return self._pending[key][1]
        with self._lock, self._damage():
            row = self._db.execute("SELECT value FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, model: str, value: str) -> None:
        with self._lock, self._damage(), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)",
                (key, model, value, time.time()),
            )
            self._keys.add(key)

    def put_later(self, key: str, model: str, value: str) -> None:
        """Queue an entry for the writer thread and return at once. The entries queued while it
        writes go in its next transaction; ``get`` sees them meanwhile; ``close`` writes what
        is left. A write that failed is raised here, by the next entry, or by ``close``."""
        self._raise_failure()
        with self._pending_lock:
            first = not self._pending
            self._pending[key] = (model, value)
            self._keys.add(key)
        if first:  # the writer takes every entry queued until it writes: one wake-up for all
            self._wake.put(True)

    def _write_behind(self) -> None:
        going = True
        while going:
            if self._wake.get():
                time.sleep(WRITE_DELAY_S)  # the replies of one superstep: one transaction
            else:
                going = False
            while not self._wake.empty():
                going = self._wake.get() and going
            with self._lock:  # taken before the entries leave _pending: get never misses one
                with self._pending_lock:
                    rows = [(k, m, v, time.time()) for k, (m, v) in self._pending.items()]
                    self._pending.clear()
                if rows and self._failure is None:
                    try:
                        with self._db:
                            self._db.executemany(
                                "INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)", rows
                            )
                    except Exception as exc:  # raised to the run by put_later or close
                        self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            with self._damage():
                raise self._failure

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])

    def clear(self) -> None:
        with self._lock, self._db:
            with self._pending_lock:
                self._pending.clear()
            self._db.execute("DELETE FROM llm_cache")
            self._keys.clear()

    def close(self) -> None:
        """Write what is queued, then close."""
        if self._writer.is_alive():
            self._wake.put(False)
            self._writer.join()
        with self._lock:
            self._db.close()
        self._raise_failure()


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
