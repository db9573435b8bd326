"""Helpers shared by the benchmarks: the benchmark search, timed runs, tokens/s, JSON results."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.runtime.runner import Run, execute

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def search_config(W: int = 2, M: int = 3, D: int = 4) -> dict[str, Any]:
    """System-prompt search W, M, D after a one-example, one-level ICL stage, P* from the last
    beam (the paper); K=0 keeps the embedding model out of the timings (benchmark 4 measures
    retrieval)."""
    return {
        "icl": {"n": 1, "W": 1, "M": 1, "D": 1},
        "system_prompt": {
            "W": W, "M": M, "D": D, "K": 0, "seeds": 2 * (D + 1), "select": "last-beam"
        },
    }  # fmt: skip


def chain_calls(config: dict[str, Any]) -> int:
    """LLM calls on the longest dependency chain of a run (the critical path): every aspect
    selection up front (1), then the ICL stage: judge s0 -> D x (transition -> judge); the
    system prompt: level 0 generate -> judge, each level t >= 1 transition -> generate -> judge."""
    cfg = RunConfig.model_validate(config)
    return 1 + 1 + 2 * cfg.icl.D + 2 + 3 * cfg.system_prompt.D


def fake_context(latency_ms: float, **kw: Any) -> Context:
    spec = f"fake:latency_ms={latency_ms:g}"
    return Context(
        base_model=spec, optimizer_model=spec, judge_model=spec, selector_model=spec, **kw
    )


async def timed_run(
    root: Path, run_id: str, config: dict[str, Any], context: Context
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one fresh run (run dir ``root``) and its summary."""
    run = Run(root, run_id)
    run.create(RunConfig.model_validate(config), context)
    start = time.perf_counter()
    result = await execute(run, resume=False, progress=lambda _line: None)
    return time.perf_counter() - start, result


def time_generations(model: Runnable[Any, Any], prompt: str, n: int) -> dict[str, Any]:
    """One warm-up call (an embedded model loads its weights in it), then ``n`` timed identical
    calls: their latencies and the generated tokens per second."""
    start = time.perf_counter()
    first = model.invoke(prompt)
    first_s = time.perf_counter() - start
    latencies, tokens = [], []
    for _ in range(n):
        start = time.perf_counter()
        reply = model.invoke(prompt)
        latencies.append(time.perf_counter() - start)
        usage = getattr(reply, "usage_metadata", None) or {}
        tokens.append(int(usage.get("output_tokens", 0)))
    return {
        "first_call_s": round(first_s, 3),
        "latencies_s": [round(x, 3) for x in latencies],
        "mean_latency_s": round(sum(latencies) / n, 3),
        "output_tokens": tokens,
        "tokens_per_s": round(sum(tokens) / sum(latencies), 1),
        "text": str(first.content),
    }


def model_calls(result: dict[str, Any]) -> int:
    return sum(row["calls"] for row in result["usage"].values())


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    path.write_text(json.dumps({**meta, **data}, indent=2) + "\n")
    print(f"-> {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
