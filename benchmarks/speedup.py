"""Benchmark 1: concurrent search vs max_concurrency=1 against the fake model (200 ms/call).

System-prompt search at the paper's W=2, M=3, D=20 (P* from the last beam, as in the paper);
both runs in one process, LLM cache off. The critical path is the longest chain of dependent
calls (``common.chain_calls``) x the latency.

    python -m benchmarks speedup
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    chain_calls,
    fake_context,
    model_calls,
    search_config,
    timed_run,
    write_result,
)
from drpo.runtime.loop import run_async

LATENCY_MS = 200.0
W, M, D = 2, 3, 20


async def measure() -> dict[str, Any]:
    config = search_config(W, M, D)
    with tempfile.TemporaryDirectory() as tmp:
        await timed_run(Path(tmp) / "warm", "warm", search_config(1, 1, 1), fake_context(0))
        free, result = await timed_run(
            Path(tmp) / "c", "c", config, fake_context(LATENCY_MS, llm_cache="off")
        )
        serial, serial_result = await timed_run(
            Path(tmp) / "s",
            "s",
            config,
            fake_context(LATENCY_MS, llm_cache="off", max_concurrency=1),
        )
    assert serial_result["best_system_prompt"] == result["best_system_prompt"]
    calls, chain = model_calls(result), chain_calls(config)
    critical = chain * LATENCY_MS / 1000
    return {
        "config": {"W": W, "M": M, "D": D, "latency_ms": LATENCY_MS, "icl": config["icl"]},
        "model_calls": calls,
        "critical_path_calls": chain,
        "wall_concurrent_s": round(free, 3),
        "wall_max_concurrency_1_s": round(serial, 3),
        "speedup": round(serial / free, 2),
        "speedup_ceiling": round(calls / chain, 2),  # serial calls / critical-path calls
        "speedup_target": 5.0,
        "critical_path_s": round(critical, 3),
        "wall_over_critical_path": round(free / critical, 3),
        "wall_over_critical_path_target": 1.15,
    }


def main() -> dict[str, Any]:
    data = run_async(measure())  # the CLI's event loop
    print(
        f"speed-up {data['speedup']}x ({data['wall_max_concurrency_1_s']} s -> "
        f"{data['wall_concurrent_s']} s; ceiling {data['speedup_ceiling']}x = "
        f"{data['model_calls']} calls / {data['critical_path_calls']} on the critical path; "
        f"target {data['speedup_target']}x); wall / critical path "
        f"{data['wall_over_critical_path']} (target <= 1.15)"
    )
    write_result("speedup", data)
    return data


if __name__ == "__main__":
    main()
