"""Benchmark 7: what trust costs at the paper's size (issue 22): W=2 M=3 D=20, default flags
otherwise (stage 1: 16 examples, D=5), in the simulated world of drpo/llm/backends/sim.py.

Per world (improve, degrade, and null: every rewrite lowers the true quality by 0.0001, so
"P* worse than P" is exactly "P* is not P", the false-pass rate) and per selection rule
(last-beam: the paper; validation: every candidate on 16 validation queries and one fixed
48-query confirmation, the rule before racing; race: the default; race+pN: the race after a
search with ``--patience N``, which may stop early), SEEDS runs; the rules of one seed run the
same search (up to where patience stops it) and differ in how P* is chosen. Per cell: calls per
run, dollars per run (each role's calls at the dry run's tokens per call, judge and optimizer at
gpt-4o's prices, base and selector at gpt-4o-mini's), P(P* truly worse than P), mean true gain,
mean regret, levels searched. Writes benchmarks/results/selection_cost.{json,png}.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, write_result
from benchmarks.selection_noise import mean_ci, sim_context, wilson, written_prompts
from drpo.core.config import RunConfig
from drpo.core.data import load_icl
from drpo.llm.backends.sim import WORLDS, true_quality
from drpo.llm.estimate import input_tokens_per_call
from drpo.llm.prices import OPENAI_PRICES as PRICES
from drpo.llm.prices import cost
from drpo.runtime.runner import Run, execute, summary

SEEDS = int(os.environ.get("SELECTION_COST_SEEDS", "40"))
W, M, D = 2, 3, 20
# a rule: the selection, and with "+pN" the search's early stop --patience N (nodes/check.py)
RULES = tuple(
    os.environ.get("SELECTION_COST_RULES", "last-beam,validation,race,race+p2,race+p3").split(",")
)
ROLE_MODEL = {"judge": "gpt-4o", "optimizer": "gpt-4o", "base": "gpt-4o-mini",
              "selector": "gpt-4o-mini"}  # fmt: skip
SIM_WORLDS = (*WORLDS, "null")


def run_config(seed: int, rule: str) -> dict[str, Any]:
    """The paper's defaults but K=0 (no embedding model) and the seed order of ``seed``; the
    seeds cover the levels, 16 validation and 48 confirmation queries."""
    select, _, patience = rule.partition("+p")
    sp = {"W": W, "M": M, "D": D, "K": 0, "seeds": D + 1 + 16 + 48, "shuffle_seed": seed,
          "select": select, "patience": int(patience) if patience else None}  # fmt: skip
    return {"system_prompt": sp, "seed": seed}


def dollars(config: RunConfig, calls: dict[str, int]) -> float:
    per_call = input_tokens_per_call(config, load_icl(config.icl_path)[: config.icl.n])
    s = config.sampling
    out = {"judge": s.json_max_tokens, "selector": s.json_max_tokens,
           "optimizer": s.json_max_tokens, "base": s.base_max_tokens}  # fmt: skip
    return sum(
        cost(PRICES[ROLE_MODEL[role]], n * per_call[role], n * out[role])
        for role, n in calls.items()
        if role in ROLE_MODEL
    )


async def one_run(root: Path, world: str, seed: int, select: str) -> dict[str, Any]:
    run = Run(root, f"{world}-{select}-s{seed:03d}")
    config = RunConfig.model_validate(run_config(seed, select))
    run.create(config, sim_context(world, seed))
    await execute(run, resume=False, progress=lambda _line: None)
    result = await summary(run)
    initial, chosen = config.system_prompt.initial_prompt, result["best_system_prompt"]
    q_p, q_star = true_quality(initial), true_quality(chosen)
    calls = {k: v for k, v in result["calls"].items() if k in ROLE_MODEL}
    return {
        "world": world, "seed": seed, "select": select,
        "calls": sum(calls.values()), "dollars": round(dollars(config, calls), 4),
        "q_initial": q_p, "q_chosen": q_star, "chosen_is_initial": chosen == initial,
        "q_best_written": max([q_p, *map(true_quality, written_prompts(result))]),
        "rule": (result.get("validation") or {}).get("rule"),
        "levels": len(result["levels"]) - 1,  # the last level searched (D unless stopped)
    }  # fmt: skip


def cell(rows: list[dict[str, Any]]) -> dict[str, Any]:
    worse = sum(r["q_chosen"] < r["q_initial"] - 1e-9 for r in rows)
    return {
        "runs": len(rows),
        "calls": mean_ci([float(r["calls"]) for r in rows]),
        "dollars": mean_ci([r["dollars"] for r in rows]),
        "p_worse": round(worse / len(rows), 4),
        "p_worse_ci95": wilson(worse, len(rows)),
        "gain": mean_ci([r["q_chosen"] - r["q_initial"] for r in rows]),
        "regret": mean_ci([r["q_best_written"] - r["q_chosen"] for r in rows]),
        "levels": mean_ci([float(r["levels"]) for r in rows]),
    }


def table(cells: list[dict[str, Any]]) -> str:
    lines = [
        "| world | rule | calls per run (× last-beam) | $ per run (× last-beam) "
        "| P(P* worse than P) [95% CI] | mean true gain | mean regret | levels searched |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lo, hi = c["p_worse_ci95"]
        lines.append(
            f"| {c['world']} | {c['select']} | {c['calls']['mean']:.0f} ({c['calls_ratio']:.2f}×) "
            f"| {c['dollars']['mean']:.2f} ({c['dollars_ratio']:.2f}×) "
            f"| {c['p_worse']:.3f} [{lo:.2f}, {hi:.2f}] | {c['gain']['mean']:+.3f} "
            f"| {c['regret']['mean']:.3f} | {c['levels']['mean']:.1f} |"
        )
    return "\n".join(lines)


def plot(cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SIM_WORLDS), figsize=(13, 4), sharey=False)
    for ax, world in zip(axes, SIM_WORLDS, strict=True):
        for c in (c for c in cells if c["world"] == world):
            ax.errorbar(c["calls"]["mean"], c["regret"]["mean"], yerr=c["regret"]["ci95"],
                        fmt="o", capsize=3, label=c["select"])  # fmt: skip
        ax.set_title(world)
        ax.set_xlabel("calls per run")
    axes[0].set_ylabel("mean regret (true quality)")
    axes[0].legend()
    fig.suptitle(f"Regret against calls per run (sim, W={W} M={M} D={D}, {SEEDS} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def measure() -> list[dict[str, Any]]:
    WORLDS.setdefault("null", (-0.0001, 0.0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in SIM_WORLDS:
            for select in RULES:
                rows += [await one_run(Path(tmp), world, s, select) for s in range(SEEDS)]
                print(f"  {world} {select}: {SEEDS} runs", flush=True)
    return rows


def main() -> None:
    start = time.perf_counter()
    rows = asyncio.run(measure())
    cells = []
    for world in SIM_WORLDS:
        base = cell([r for r in rows if (r["world"], r["select"]) == (world, "last-beam")])
        for select in RULES:
            c = cell([r for r in rows if (r["world"], r["select"]) == (world, select)])
            c["calls_ratio"] = round(c["calls"]["mean"] / base["calls"]["mean"], 3)
            c["dollars_ratio"] = round(c["dollars"]["mean"] / base["dollars"]["mean"], 3)
            cells.append({"world": world, "select": select, **c})
    print(table(cells))
    plot(cells, RESULTS / "selection_cost.png")
    write_result(
        "selection_cost",
        {
            "search": {"W": W, "M": M, "D": D, "seeds": SEEDS, "validation": 16, "confirm": 48},
            "prices": {role: PRICES[m] for role, m in ROLE_MODEL.items()},
            "wall_s": round(time.perf_counter() - start, 1),
            "cells": cells,
            "table": table(cells),
            "runs": rows,
        },
    )
