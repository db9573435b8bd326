"""Benchmark 2: framework overhead against the fake model with 0 ms latency: wall and CPU
milliseconds per LLM call (graph + SQLite checkpoints + cache/budget hooks), with the LLM cache
on and off, and the checkpoint bytes written per level for D = 5, 10, 20, 40 (one seed set for
all D, so that only what grows with the levels can differ), and the floor under it: a bare
LangGraph Send task (benchmarks/send_floor.py). The runs of both cache modes and a bare Send
task alternate, so that each figure can also be read per Send task of the same round
(``over_send_task_median``): this machine's speed moves up to 2x within an hour.

    python -m benchmarks overhead
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import send_floor
from benchmarks.common import fake_context, model_calls, search_config, timed_run, write_result
from drpo.core.config import RunConfig
from drpo.runtime.loop import run_async

REPEATS = 5
MODES = ("cache_on", "cache_off")
D_CALLS = 20  # the paper's depth for the per-call figures
DEPTHS = (5, 10, 20, 40)
SEEDS = 2 * (max(DEPTHS) + 1)


def checkpoint_bytes(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        checkpoints, n = con.execute(
            "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0), COUNT(*) "
            "FROM checkpoints"
        ).fetchone()
        writes = con.execute("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes").fetchone()[0]
    return {"checkpoints": int(n), "checkpoint_bytes": int(checkpoints), "write_bytes": int(writes)}


def levels_of(config: dict[str, Any]) -> int:
    cfg = RunConfig.model_validate(config)
    return (cfg.icl.D + 1) + (cfg.system_prompt.D + 1)


async def per_call(root: Path) -> dict[str, Any]:
    """Both cache modes and the bare Send task in turn, REPEATS rounds: this machine's speed
    moves up to 2x within an hour, and each round sees one speed."""
    config = search_config(D=D_CALLS)
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    floors = []
    for i in range(REPEATS):
        for mode in MODES:
            context = fake_context(0, llm_cache=None if mode == "cache_on" else "off")
            start = time.process_time()
            seconds, result = await timed_run(root / f"{mode}{i}", "r", config, context)
            calls = model_calls(result)
            wall[mode].append(seconds / calls * 1000)
            # CPU time of the process (all threads): the overhead without waiting
            cpu[mode].append((time.process_time() - start) / calls * 1000)
        floors.append(await send_floor.memory_task_ms())
    out: dict[str, Any] = {
        mode: {
            "model_calls": calls,
            "ms_per_call_median": round(statistics.median(wall[mode]), 2),
            "ms_per_call_all": [round(x, 2) for x in wall[mode]],
            "cpu_ms_per_call_median": round(statistics.median(cpu[mode]), 2),
            # per round: this run's ms per call / the bare Send task's ms in the same round
            "over_send_task_median": round(
                statistics.median(w / f for w, f in zip(wall[mode], floors, strict=True)), 2
            ),
        }
        for mode in MODES
    }
    out["send_task_ms_by_round"] = [round(f, 3) for f in floors]
    return out


async def bytes_by_depth(root: Path) -> dict[str, Any]:
    rows = {}
    for D in DEPTHS:
        config = search_config(D=D)
        config["system_prompt"]["seeds"] = SEEDS
        await timed_run(root / f"d{D}", "r", config, fake_context(0, llm_cache="off"))
        sizes = checkpoint_bytes(root / f"d{D}" / "r" / "checkpoints.sqlite")
        total = sizes["checkpoint_bytes"] + sizes["write_bytes"]
        rows[str(D)] = {
            **sizes,
            "levels": levels_of(config),
            "bytes_per_level": total // levels_of(config),
        }
    return rows


async def measure() -> dict[str, Any]:
    out: dict[str, Any] = {"config": search_config(D=D_CALLS), "repeats": REPEATS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await timed_run(root / "warm", "warm", search_config(1, 1, 1), fake_context(0))
        out.update(await per_call(root))
        out["bytes_by_depth"] = await bytes_by_depth(root)
    out["send_floor"] = await send_floor.measure()  # LangGraph alone: one Send task, no model
    first, last = out["bytes_by_depth"][str(DEPTHS[0])], out["bytes_by_depth"][str(DEPTHS[-1])]
    out["bytes_per_level_ratio_d40_d5"] = round(
        last["bytes_per_level"] / first["bytes_per_level"], 3
    )
    out["target_ms_per_call"] = 2.0
    out["target_bytes_ratio"] = 1.5
    return out


def main() -> dict[str, Any]:
    data = run_async(measure())  # the CLI's event loop
    on, off = data["cache_on"], data["cache_off"]
    per_level = ", ".join(
        f"D={d}: {row['bytes_per_level']}" for d, row in data["bytes_by_depth"].items()
    )
    print(
        f"overhead per LLM call (D={D_CALLS}): {on['ms_per_call_median']} ms wall, "
        f"{on['cpu_ms_per_call_median']} ms CPU (LLM cache on); {off['ms_per_call_median']} ms "
        f"wall, {off['cpu_ms_per_call_median']} ms CPU (off); target < 2 ms; per bare Send "
        f"task of the same round: {on['over_send_task_median']}x (on), "
        f"{off['over_send_task_median']}x (off); checkpoint bytes "
        f"per level {per_level} (D=40 / D=5 = {data['bytes_per_level_ratio_d40_d5']}, "
        "target <= 1.5); a bare LangGraph Send task: "
        f"{data['send_floor']['ms_per_task_memory']} ms (memory), "
        f"{data['send_floor']['ms_per_task_sqlite']} ms (SQLite, aiosqlite), "
        f"{data['send_floor']['ms_per_task_sqlite_threaded']} ms (SQLite, one hop per write)"
    )
    write_result("overhead", data)
    return data


if __name__ == "__main__":
    main()
