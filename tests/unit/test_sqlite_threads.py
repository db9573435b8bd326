"""The SQLite saver and store on one worker thread (drpo/runtime/sqlite_threads.py): the same
checkpoints as LangGraph's AsyncSqliteSaver, one thread hop per operation, no SQL on the loop."""

from __future__ import annotations

import asyncio
import operator
import sqlite3
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from drpo.runtime.file_checks import create_sqlite, read_only_uri
from drpo.runtime.persistence import SERDE
from drpo.runtime.sqlite_threads import threaded_saver, threaded_store


class FanState(TypedDict):
    left: int
    done: Annotated[list[int], operator.add]


def _fan(state: FanState) -> list[Send] | str:
    return [Send("work", {"item": i}) for i in range(3)] if state["left"] else END


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    g = StateGraph(FanState)
    g.add_node("count", lambda s: {"left": s["left"] - 1})
    g.add_node("work", lambda task: {"done": [task["item"]]})  # type: ignore[arg-type]
    g.add_conditional_edges(START, _fan, ["work", END])
    g.add_conditional_edges("count", _fan, ["work", END])
    g.add_edge("work", "count")
    return g.compile(checkpointer=saver)


async def _history(saver: BaseCheckpointSaver[Any]) -> list[tuple[Any, ...]]:
    """A run of 3 levels of 3 Sends, then its checkpoints: values, next, metadata, writes."""
    config = {"configurable": {"thread_id": "t"}}
    g = _graph(saver)
    await g.ainvoke({"left": 3, "done": []}, config, durability="sync")
    rows = []
    async for snap in g.aget_state_history(config):
        meta = {k: snap.metadata.get(k) for k in ("source", "step")}
        rows.append((snap.values, snap.next, meta, len(snap.tasks)))
    return rows


def test_the_same_checkpoints_as_langgraphs_async_saver(tmp_path: Path) -> None:
    async def both() -> tuple[list[Any], list[Any]]:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "a.sqlite")) as stock:
            expected = await _history(stock)
        async with threaded_saver(str(tmp_path / "b.sqlite"), SERDE) as saver:
            got = await _history(saver)
        return expected, got

    expected, got = asyncio.run(both())
    assert len(got) == len(expected) == 8  # input, 3 x (fan-out, count), end
    assert got == expected
    assert got[0][0]["done"] == [0, 1, 2] * 3


def test_one_hop_per_operation_and_no_sql_on_the_event_loop(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    statements: list[int] = []
    hops: list[str] = []
    calls: list[str] = []

    async def run() -> None:
        async with threaded_saver(str(tmp_path / "c.sqlite"), SERDE) as saver:
            saver.conn.set_trace_callback(lambda _sql: statements.append(threading.get_ident()))
            submit = saver.executor.submit

            def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
                hops.append(getattr(getattr(fn, "func", fn), "__name__", "?"))
                return submit(fn, *args, **kwargs)

            saver.executor.submit = counted  # type: ignore[method-assign]
            for name in ("aget_tuple", "aput", "aput_writes"):
                method = getattr(saver, name)

                async def wrapped(*args: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
                    calls.append(_n)
                    return await _m(*args, **kw)

                setattr(saver, name, wrapped)
            await _history(saver)

    asyncio.run(run())
    assert calls.count("aput_writes") >= 9 and calls.count("aput") >= 8
    assert statements and loop_thread not in statements  # SQL only on the worker thread
    # one hop per operation, plus the history's alist and closing the connection; aiosqlite
    # makes 3 or 4 per write
    assert hops[-2:] == ["<lambda>", "close"]
    assert len(hops) == len(calls) + 2


def test_read_only_saver_reads_and_refuses_to_write(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"

    async def run() -> None:
        async with threaded_saver(str(db), SERDE) as saver:
            written = await _history(saver)
        async with threaded_saver(read_only_uri(db), SERDE, uri=True, writable=False) as ro:
            config = {"configurable": {"thread_id": "t"}}
            assert [t.checkpoint["id"] async for t in ro.alist(config)]
            assert await _history_values(ro) == [row[0] for row in written]
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await _graph(ro).ainvoke(
                    {"left": 1, "done": []}, {"configurable": {"thread_id": "u"}}
                )

    asyncio.run(run())


async def _history_values(saver: BaseCheckpointSaver[Any]) -> list[Any]:
    config = {"configurable": {"thread_id": "t"}}
    return [s.values async for s in _graph(saver).aget_state_history(config)]


def test_store_round_trip_on_its_thread(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    idents: set[int] = set()

    async def run() -> list[Any]:
        async with threaded_store(str(tmp_path / "s.sqlite")) as store:
            store.conn.set_trace_callback(lambda _sql: idents.add(threading.get_ident()))
            await store.aput(("levels", "t"), "a", {"x": 1}, index=False)
            await store.aput(("levels", "t"), "b", {"x": 2}, index=False)
            item = await store.aget(("levels", "t"), "a")
            found = await store.asearch(("levels", "t"), limit=10)
            assert item is not None and item.value == {"x": 1}
            return sorted(i.key for i in found)

    assert asyncio.run(run()) == ["a", "b"]
    assert idents and loop_thread not in idents


def test_stores_opened_together_on_a_new_file_set_it_up_once(tmp_path: Path) -> None:
    """Runs that start together on a new run dir (drpo reproduce, or two drpo optimize) each set
    up store.sqlite: LangGraph's migrations are not atomic, so without the setup lock some
    openings fail (UNIQUE constraint failed: store_migrations.v, duplicate column name)."""

    async def together(path: Path) -> list[Any]:
        async def one() -> None:
            async with threaded_store(str(path)):
                pass

        create_sqlite(path)
        return await asyncio.gather(*(one() for _ in range(6)), return_exceptions=True)

    failed = []
    for trial in range(30):  # the race, without the lock, hit 11 of 40 trials here
        results = asyncio.run(together(tmp_path / f"store{trial}.sqlite"))
        failed += [repr(r) for r in results if isinstance(r, BaseException)]
    assert failed == []
    with sqlite3.connect(tmp_path / "store0.sqlite") as db:
        versions = [v for (v,) in db.execute("SELECT v FROM store_migrations ORDER BY v")]
    assert versions == list(range(len(versions))) and len(versions) >= 5
