"""LangGraph's SQLite saver and store with their async methods run on one worker thread each.

``AsyncSqliteSaver`` and ``AsyncSqliteStore`` go through aiosqlite, which hands every statement,
commit and cursor close to its thread separately: a task's writes take four round trips between
the event loop and that thread, a checkpoint three, each a GIL hand-off. Here each async method
is the sync class's method (LangGraph's SQL and serializer, unchanged) run on a dedicated
thread: one round trip per operation, and the event loop never waits on SQLite. Each
connection is used by its thread only (``check_same_thread=False`` lets the loop open it).
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    SerializerProtocol,
)
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.base import Op, Result
from langgraph.store.sqlite import SqliteStore

T = TypeVar("T")


class _Hops:
    executor: ThreadPoolExecutor

    async def _hop(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(fn, *args, **kwargs))


class ThreadedSqliteSaver(_Hops, SqliteSaver):
    def __init__(
        self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, *, serde: SerializerProtocol
    ) -> None:
        super().__init__(conn, serde=serde)
        self.executor = executor

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._hop(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        page = partial(self.list, config, filter=filter, before=before, limit=limit)
        for item in await self._hop(lambda: list(page())):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._hop(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._hop(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._hop(self.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._hop(self.get_delta_channel_history, config=config, channels=channels)


class ThreadedSqliteStore(_Hops, SqliteStore):
    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        super().__init__(conn)
        self.executor = executor

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._hop(self.batch, list(ops))


@asynccontextmanager
async def _worker(
    target: str, *, uri: bool = False, isolation_level: str | None = "DEFERRED"
) -> AsyncIterator[tuple[sqlite3.Connection, ThreadPoolExecutor]]:
    """A connection and the one thread that uses it; closed on exit."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drpo-sqlite")
    loop = asyncio.get_running_loop()
    connect = partial(
        sqlite3.connect,
        target,
        uri=uri,
        check_same_thread=False,
        isolation_level=isolation_level,
    )
    try:
        conn = await loop.run_in_executor(executor, connect)
        try:
            yield conn, executor
        finally:
            await loop.run_in_executor(executor, conn.close)
    finally:
        executor.shutdown(wait=False)


@asynccontextmanager
async def threaded_saver(
    target: str, serde: SerializerProtocol, *, uri: bool = False, writable: bool = True
) -> AsyncIterator[ThreadedSqliteSaver]:
    """A saver on ``target`` (a path or a ``file:`` URI); writable: WAL, synchronous=NORMAL (a
    commit is one write to the log, no fsync; a killed process loses nothing committed)."""
    async with _worker(target, uri=uri) as (conn, executor):
        saver = ThreadedSqliteSaver(conn, executor, serde=serde)

        def setup() -> None:
            if writable:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            saver.setup()

        await saver._hop(setup)
        yield saver


@contextmanager
def _setup_lock(target: str, uri: bool) -> Iterator[None]:
    """One store setup at a time per database file, across processes and threads: LangGraph's
    migrations read the version, then insert it and ALTER the table, so two runs that start
    together on a new run dir both migrate (UNIQUE constraint failed: store_migrations.v). A
    lock file of its own (``<db>-setup.lock``): closing any descriptor of the database itself
    would drop SQLite's POSIX locks in this process."""
    if uri:
        yield
        return
    with open(f"{target}-setup.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@asynccontextmanager
async def threaded_store(
    target: str, *, uri: bool = False, setup: bool = True
) -> AsyncIterator[ThreadedSqliteStore]:
    """A store on ``target`` in autocommit mode (as ``AsyncSqliteStore.from_conn_string``);
    ``setup`` (never on a read-only database): WAL and synchronous=NORMAL as the checkpoints
    (SQLite's default, FULL, syncs every put to disk: ~1 ms each), and its tables created or
    migrated."""
    async with _worker(target, uri=uri, isolation_level=None) as (conn, executor):
        store = ThreadedSqliteStore(conn, executor)

        def prepare() -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with _setup_lock(target, uri):
                store.setup()

        if setup:
            await store._hop(prepare)
        yield store
