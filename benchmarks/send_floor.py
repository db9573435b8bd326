"""LangGraph's own cost of one Send task, with nothing else in it: the floor under the overhead
per LLM call (benchmarks/overhead.py). A node fans out N Sends to a node that returns its item;
each superstep is checkpointed as a DRPO run's are (durability "sync"), in memory, in SQLite
with LangGraph's AsyncSqliteSaver (aiosqlite), and in SQLite with the saver DRPO runs use
(drpo/runtime/sqlite_threads.py: LangGraph's SqliteSaver, one thread hop per write), both in WAL
mode. Reported: wall milliseconds per task, the median of REPEATS runs."""

from __future__ import annotations

import operator
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from drpo.runtime.persistence import SERDE
from drpo.runtime.sqlite_threads import threaded_saver

TASKS = 378  # the model calls of the overhead benchmark's D=20 run
FAN = 6  # Sends per superstep, as a level's W*M transitions
REPEATS = 3


class FloorState(TypedDict):
    left: int
    done: Annotated[list[int], operator.add]


def _fan(state: FloorState) -> list[Send] | str:
    n = min(FAN, state["left"])
    return [Send("work", {"item": i}) for i in range(n)] if n else END


def _work(task: dict[str, Any]) -> dict[str, Any]:
    return {"done": [task["item"]]}


def _count(state: FloorState) -> dict[str, Any]:
    return {"left": max(0, state["left"] - FAN)}


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    g = StateGraph(FloorState)
    g.add_node("count", _count)
    g.add_node("work", _work)  # type: ignore[arg-type]  # Send payload
    g.add_conditional_edges(START, _fan, ["work", END])
    g.add_conditional_edges("count", _fan, ["work", END])
    g.add_edge("work", "count")
    return g.compile(checkpointer=saver)


async def _run(saver: BaseCheckpointSaver[Any], thread: str) -> float:
    config = {"configurable": {"thread_id": thread}}
    start = time.perf_counter()
    await _graph(saver).ainvoke({"left": TASKS, "done": []}, config, durability="sync")
    return (time.perf_counter() - start) / TASKS * 1000


async def memory_task_ms() -> float:
    """One run's milliseconds per task with the in-memory saver."""
    return await _run(InMemorySaver(), "m")


async def measure() -> dict[str, float]:
    memory = [await _run(InMemorySaver(), f"m{i}") for i in range(REPEATS)]
    with tempfile.TemporaryDirectory() as tmp:
        async with aiosqlite.connect(str(Path(tmp) / "floor.sqlite")) as conn:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            sqlite = [await _run(saver, f"s{i}") for i in range(REPEATS)]
        async with threaded_saver(str(Path(tmp) / "threaded.sqlite"), SERDE) as threaded:
            ours = [await _run(threaded, f"t{i}") for i in range(REPEATS)]
    return {
        "tasks": TASKS,
        "sends_per_superstep": FAN,
        "ms_per_task_memory": round(statistics.median(memory), 2),
        "ms_per_task_sqlite": round(statistics.median(sqlite), 2),
        "ms_per_task_sqlite_threaded": round(statistics.median(ours), 2),
    }
