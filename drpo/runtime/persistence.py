"""Where runs are kept: SQLite files per run (default) or one PostgreSQL database for many runs.

Both use LangGraph's own checkpointers and stores. The serializer never pickles: an object that
msgpack cannot encode is an error, and only msgpack's safe types are decoded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore

from drpo.runtime.checkpointer_url import PersistenceError, is_postgres, redact
from drpo.runtime.file_checks import StateFileError, create_sqlite, read_only_uri, reading
from drpo.runtime.sqlite_threads import threaded_saver, threaded_store

# pickle_fallback=False: no pickle either way; allowed_msgpack_modules=None: strict decoding.
SERDE = JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
_SETUP_LOCK = 0x445250  # pg advisory lock: concurrent first runs must not race on CREATE TABLE
_SETUP_WAIT_S = 300.0


@asynccontextmanager
async def open_persistence(
    run_dir: Path, root: Path, url: str | None, read_only: bool = False
) -> AsyncIterator[tuple[BaseCheckpointSaver[str], BaseStore | None]]:
    """(checkpointer, store) for a run: SQLite in RUN_DIR, or PostgreSQL when a URL is given.
    ``read_only``: a checkpointer and a store that write nothing (show, export); no store when
    the run dir has none."""
    if is_postgres(url):
        async with _postgres(str(url), read_only) as pair:
            yield pair
        return
    file = run_dir / "checkpoints.sqlite"
    if read_only:
        if not file.exists():  # never created: nothing to read (Run decides if that is damage)
            yield InMemorySaver(serde=SERDE), None
            return
        stores = root / "store.sqlite"
        # setup creates nothing on an existing database opened read-only
        async with threaded_saver(read_only_uri(file), SERDE, uri=True, writable=False) as saver:
            if not stores.exists():
                yield saver, None
                return
            # the level records and the seed plan (drpo/core/records.py); no setup: it would write
            async with threaded_store(read_only_uri(stores), uri=True, setup=False) as store:
                yield saver, store
        return
    create_sqlite(root / "store.sqlite")  # never seen half-made by a concurrent run's checks
    async with (
        threaded_saver(str(file), SERDE) as saver,  # WAL, synchronous=NORMAL
        threaded_store(str(root / "store.sqlite")) as store,
    ):
        yield saver, store


@asynccontextmanager
async def _postgres(
    url: str, read_only: bool = False
) -> AsyncIterator[tuple[BaseCheckpointSaver[str], BaseStore | None]]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres.aio import AsyncPostgresStore
    from psycopg import AsyncConnection, OperationalError
    from psycopg.rows import DictRow, dict_row

    # read-only: every transaction of the session is READ ONLY, so nothing can be written
    options = "-c default_transaction_read_only=on" if read_only else ""

    async def connect() -> AsyncConnection[DictRow]:
        try:
            return await AsyncConnection.connect(
                url, autocommit=True, prepare_threshold=0, row_factory=dict_row, options=options
            )
        except OperationalError as exc:
            reason = " ".join(str(exc).split())[:200]
            raise PersistenceError(f"cannot connect to {redact(url)}: {reason}") from exc

    if read_only:  # no setup: it would migrate
        async with await connect() as conn, await connect() as store_conn:
            yield AsyncPostgresSaver(conn, serde=SERDE), AsyncPostgresStore(store_conn)
        return
    async with await connect() as conn, await connect() as store_conn:
        saver = AsyncPostgresSaver(conn, serde=SERDE)
        store = AsyncPostgresStore(store_conn)
        await _setup_lock(conn, redact(url))
        try:
            await saver.setup()
            await store.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        yield saver, store


async def _setup_lock(conn: Any, where: str) -> None:
    """Take the setup lock by trying, not by waiting inside a statement: the migrations build
    indexes CONCURRENTLY, which wait for every open snapshot of the database, and a waiter's
    `pg_advisory_lock` statement holds one (four first runs at once deadlocked)."""
    deadline = time.monotonic() + _SETUP_WAIT_S
    while True:
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_SETUP_LOCK,))
        ).fetchone()
        if row and row["ok"]:
            return
        if time.monotonic() > deadline:
            raise PersistenceError(
                f"{where}: another run has been setting up its tables for "
                f"{_SETUP_WAIT_S:.0f} s; try again"
            )
        await asyncio.sleep(0.05)


async def holds_thread(run_dir: Path, root: Path, url: str | None, thread: Any) -> bool:
    """Whether the checkpointer holds the thread (read-only; a database without checkpoint
    tables holds none)."""
    try:
        async with (
            reading(run_dir, url, True),
            open_persistence(run_dir, root, url, True) as (saver, _),
        ):
            return (await saver.aget_tuple(thread)) is not None
    except StateFileError:
        return False
