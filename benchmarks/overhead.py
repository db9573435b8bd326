"""Benchmark 2: framework overhead. The benchmark search against the fake model with 0 ms
latency: wall seconds per LLM call (graph + SQLite checkpoints + cache/budget hooks), with the
LLM cache on and off, and the checkpoint bytes written per search level.

    python -m benchmarks overhead
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fake_context, model_calls, search_config, timed_run, write_result
from drpo.config import RunConfig

REPEATS = 3


def checkpoint_bytes(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        checkpoints, n = con.execute(
            "SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0), COUNT(*) "
            "FROM checkpoints"
        ).fetchone()
        writes = con.execute("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes").fetchone()[0]
    return {"checkpoints": int(n), "checkpoint_bytes": int(checkpoints), "write_bytes": int(writes)}


async def measure() -> dict[str, Any]:
    config = search_config()
    cfg = RunConfig.model_validate(config)
    levels = (cfg.icl.D + 1) + (cfg.system_prompt.D + 1)
    out: dict[str, Any] = {"config": config, "levels": levels, "repeats": REPEATS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await timed_run(root / "warm", "warm", search_config(1, 1, 1), fake_context(0))
        for mode in ("cache_on", "cache_off"):
            per_call, cpu_per_call = [], []
            for i in range(REPEATS):
                context = fake_context(0, llm_cache=None if mode == "cache_on" else "off")
                cpu = time.process_time()
                wall, result = await timed_run(root / f"{mode}{i}", "r", config, context)
                cpu = time.process_time() - cpu
                calls = model_calls(result)
                per_call.append(wall / calls * 1000)
                cpu_per_call.append(cpu / calls * 1000)
            out[mode] = {
                "model_calls": calls,
                "ms_per_call_median": round(statistics.median(per_call), 2),
                "ms_per_call_all": [round(x, 2) for x in per_call],
                # CPU time of the process (all threads): the overhead without waiting
                "cpu_ms_per_call_median": round(statistics.median(cpu_per_call), 2),
            }
        db = root / "cache_off0" / "r" / "checkpoints.sqlite"
        sizes = checkpoint_bytes(db)
        total = sizes["checkpoint_bytes"] + sizes["write_bytes"]
        out["checkpoint"] = {
            **sizes,
            "bytes_per_level": total // levels,
            "file_bytes": db.stat().st_size,
        }
    out["target_ms_per_call"] = 2.0
    return out


def main() -> dict[str, Any]:
    data = asyncio.run(measure())
    on, off = data["cache_on"], data["cache_off"]
    print(
        f"overhead per LLM call: {on['ms_per_call_median']} ms wall, "
        f"{on['cpu_ms_per_call_median']} ms CPU (LLM cache on); {off['ms_per_call_median']} ms "
        f"wall, {off['cpu_ms_per_call_median']} ms CPU (off); target < 2 ms; "
        f"checkpoint bytes per level {data['checkpoint']['bytes_per_level']} "
        f"({data['checkpoint']['checkpoints']} checkpoints)"
    )
    write_result("overhead", data)
    return data


if __name__ == "__main__":
    main()
