"""Benchmark 6: selection quality under judge noise (issue 12), where the truth is known.

Runs the real graph (``Run.create`` + ``execute``) with every role played by the simulated world
of drpo/llm/backends/sim.py: each prompt the optimizer writes has a hidden true quality, the judge
reports it as noisy integer scores. Per world (improve, degrade), per B (1, 3) and per selection
(last-beam; validation with the default gate: the best on VALIDATION queries must beat P on
CONFIRM fresh queries; validation-mean: the highest validation mean, no gate), SEEDS runs; the
selections of one seed and B run the same search (same world seed, run seed and queries) and
differ only in how P* is chosen. Per cell:
P(P* truly worse than the initial prompt P), mean true gain q(P*) - q(P), regret = q(best prompt
written in the run, P included) - q(P*). Writes benchmarks/results/selection_noise.{json,png}.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from benchmarks.common import RESULTS, write_result
from drpo.core.config import PromptStageConfig, RunConfig
from drpo.core.context import Context
from drpo.llm.backends.sim import NOISE, QUERY_SD, WORLDS, true_quality
from drpo.runtime.runner import Run, execute, summary

# Where the noise figures of drpo/llm/backends/sim.py come from (docs/selection-noise.md): the
# upstream release's search traces, GPT-4 judging, one query per level. Rewards are means over
# aspects.
TRACE_FIGURES = {
    "mistral-7b-v0.1": {
        "same_query_sibling_reward_sd": 0.57,  # pooled over 30 levels, 86 dof (an upper bound)
        "within_judging_aspect_sd": 0.53,  # best path, 4.8 aspects per judging
        "one_prompt_over_queries_reward_sd": 0.99,  # best path, unchanged prompt, 15 dof
    },
    "gpt-3.5-turbo": {  # ceiling-bound: 284 of 324 aspect scores are 5
        "same_query_sibling_reward_sd": 0.26,
        "within_judging_aspect_sd": 0.20,
        "one_prompt_over_queries_reward_sd": 0.38,
    },
}
SEEDS = int(os.environ.get("SELECTION_NOISE_SEEDS", "40"))
FIRST = int(os.environ.get("SELECTION_NOISE_FIRST_SEED", "0"))  # another set: a replication
BS = (1, 3)
SELECTS = ("last-beam", "validation", "validation-mean")
REPORTED = SELECTS
W, M, D = 2, 2, 4
VALIDATION = int(os.environ.get("SELECTION_NOISE_VALIDATION", "16"))  # the default
CONFIRM = int(os.environ.get("SELECTION_NOISE_CONFIRM", "48"))  # the default; 0: one-stage gate
SUFFIX = "" if (VALIDATION, CONFIRM) == (16, 48) else f"_v{VALIDATION}_c{CONFIRM}"
NAME = "selection_noise" + SUFFIX + (f"_s{FIRST}" if FIRST else "")


def has_validation() -> bool:
    """Whether this checkout's graph has validation selection (issue 12, item 2)."""
    return "select" in PromptStageConfig.model_fields


def run_config(seed: int, B: int, select: str) -> dict[str, Any]:
    """Search W, M, D over B queries per level, then VALIDATION and CONFIRM queries none of the
    levels use (every selection gets the same seeds, so the same search); stage 1 minimal
    (2 examples, one level); K=0 keeps the embedding model out."""
    sp: dict[str, Any] = {
        "W": W, "M": M, "D": D, "K": 0, "B": B,
        "seeds": (D + 1) * B + VALIDATION + CONFIRM, "shuffle_seed": seed,
    }  # fmt: skip
    if has_validation():
        gate = "none" if select == "validation-mean" else "significant"
        sp |= {"select": select.removesuffix("-mean"), "validation": VALIDATION, "gate": gate}
        if "confirm" in PromptStageConfig.model_fields:
            sp["confirm"] = CONFIRM
    return {"icl": {"n": 2, "W": 1, "M": 1, "D": 1}, "system_prompt": sp, "seed": seed}


def sim_context(world: str, seed: int) -> Context:
    spec = f"sim:world={world},noise={NOISE:g},seed={seed}"
    return Context(
        base_model=spec,
        optimizer_model=spec,
        judge_model=spec,
        selector_model=spec,
        llm_cache="off",  # a simulated call is cheaper than a cache lookup
    )


def written_prompts(result: dict[str, Any]) -> list[str]:
    """Every system prompt the run scored: the initial one and each level's candidates."""
    return [c["text"] for r in result["records"]["system_prompt"] for c in r["candidates"]]


async def one_run(root: Path, world: str, seed: int, B: int, select: str) -> dict[str, Any]:
    run = Run(root, f"{world}-b{B}-{select}-s{seed:03d}")
    config = RunConfig.model_validate(run_config(seed, B, select))
    run.create(config, sim_context(world, seed))
    start = time.perf_counter()
    await execute(run, resume=False, progress=lambda _line: None)
    result = await summary(run)
    wall = time.perf_counter() - start
    written = written_prompts(result)
    records = result["records"]["system_prompt"]
    texts = {c["id"]: c["text"] for r in records for c in r["candidates"]}
    initial, chosen = config.system_prompt.initial_prompt, result["best_system_prompt"]
    q_p, q_star = true_quality(initial), true_quality(chosen)
    validation = result.get("validation") or {}
    return {
        "world": world, "seed": seed, "B": B, "select": select,
        "q_initial": q_p, "q_chosen": q_star,
        "q_best_written": max([q_p, *map(true_quality, written)]),
        "written": len(set(written)),
        "chosen_is_initial": chosen == initial,
        "source": (validation.get("chosen") or {}).get("source"),
        "significant": validation.get("significant"),
        "rule": validation.get("rule"),
        "top_is_initial": (validation.get("top") or {}).get("source") == "initial",
        "q_top": true_quality(texts[validation["top"]["id"]]) if validation.get("top") else None,
        "base_calls": result["calls"].get("base", 0),
        "search": sorted(set(written)),
        "wall_s": round(wall, 3),
    }  # fmt: skip


def _share(rows: list[dict[str, Any]], rule: str) -> float:
    return round(sum(r.get("rule") == rule for r in rows) / len(rows), 4)


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson score interval of a proportion k/n."""
    p, denom = k / n, 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def mean_ci(values: list[float]) -> dict[str, float]:
    """Mean and normal-approximation 95% half-width."""
    half = 1.96 * stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": round(fmean(values), 4), "ci95": round(half, 4)}


def cell_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    worse = sum(r["q_chosen"] < r["q_initial"] - 1e-9 for r in rows)
    return {
        "runs": len(rows),
        "p_worse": round(worse / len(rows), 4),
        "p_worse_ci95": wilson(worse, len(rows)),
        "p_worse_by_0.1": round(
            sum(r["q_chosen"] < r["q_initial"] - 0.1 for r in rows) / len(rows), 4
        ),
        "gain": mean_ci([r["q_chosen"] - r["q_initial"] for r in rows]),
        "regret": mean_ci([r["q_best_written"] - r["q_chosen"] for r in rows]),
        "p_chosen_initial": round(sum(r["chosen_is_initial"] for r in rows) / len(rows), 4),
        "p_confirmed": _share(rows, "confirmed"),
        "p_not_confirmed": _share(rows, "not-confirmed"),
        "base_calls": mean_ci([float(r["base_calls"]) for r in rows]),
        "best_written_gain": mean_ci([r["q_best_written"] - r["q_initial"] for r in rows]),
    }


def summarize(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-cell figures, and per world and B the targets: validation P(worse) <= 0.05 and
    validation's mean gain >= last-beam's (also as a paired difference over the same searches)."""
    cells, targets = [], []
    for world in WORLDS:
        for B in BS:
            by = {}
            for select in REPORTED:
                part = [r for r in rows if (r["world"], r["B"], r["select"]) == (world, B, select)]
                if part:
                    by[select] = part
                    cells.append({"world": world, "B": B, "select": select, **cell_stats(part)})
            stats = {c["select"]: c for c in cells if (c["world"], c["B"]) == (world, B)}
            for select in (s for s in SELECTS[1:] if s in by and "last-beam" in by):
                pairs = [
                    (v["q_chosen"] - lb["q_chosen"], v["search"] == lb["search"])
                    for v, lb in zip(by[select], by["last-beam"], strict=True)
                ]
                gain, last = stats[select]["gain"]["mean"], stats["last-beam"]["gain"]["mean"]
                targets.append({
                    "world": world, "B": B, "select": select,
                    "p_worse_le_0.05": stats[select]["p_worse"] <= 0.05,
                    "gain_ge_last_beam": gain >= last,
                    "paired_gain_minus_last_beam": mean_ci([d for d, _ in pairs]),
                    "same_search_in_pairs": all(same for _, same in pairs),
                })  # fmt: skip
    return cells, targets


def table(cells: list[dict[str, Any]]) -> str:
    lines = [
        "| world | B | select | P(P* worse than P) [95% CI] | mean gain ± CI | regret ± CI "
        "| P(P* = P) | answers per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lo, hi = c["p_worse_ci95"]
        lines.append(
            f"| {c['world']} | {c['B']} | {c['select']} | {c['p_worse']:.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {c['gain']['mean']:+.3f} ± {c['gain']['ci95']:.3f} "
            f"| {c['regret']['mean']:.3f} ± {c['regret']['ci95']:.3f} "
            f"| {c['p_chosen_initial']:.2f} | {c['base_calls']['mean']:.0f} |"
        )
    return "\n".join(lines)


def plot(cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(w, B) for w in WORLDS for B in BS]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (("P(P* truly worse than P)", "p_worse"), ("mean true gain", "gain"),
              ("regret vs best written", "regret"))  # fmt: skip
    for ax, (title, key) in zip(axes, panels, strict=True):
        for i, select in enumerate(REPORTED):
            xs, ys, errs = [], [], []
            for g, (world, B) in enumerate(groups):
                c = next(
                    (c for c in cells if (c["world"], c["B"], c["select"]) == (world, B, select)),
                    None,
                )
                if c is None:
                    continue
                xs.append(g + (i - 1) * 0.27)
                if key == "p_worse":
                    ys.append(c[key])
                    errs.append([c[key] - c["p_worse_ci95"][0], c["p_worse_ci95"][1] - c[key]])
                else:
                    ys.append(c[key]["mean"])
                    errs.append([c[key]["ci95"]] * 2)
            if xs:
                ax.bar(xs, ys, 0.27, yerr=list(zip(*errs, strict=True)), capsize=3, label=select)
        if key == "p_worse":
            ax.axhline(0.05, color="k", ls="--", lw=0.8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(range(len(groups)), [f"{w}\nB={B}" for w, B in groups])
        ax.set_title(title)
    axes[0].legend()
    fig.suptitle(
        f"Selection under judge noise (sim, noise {NOISE}, W={W} M={M} D={D}, "
        f"V={VALIDATION} C={CONFIRM}, {SEEDS} seeds)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def measure() -> list[dict[str, Any]]:
    selects = SELECTS if has_validation() else ("last-beam",)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in WORLDS:
            for B in BS:
                for select in selects:
                    for seed in range(FIRST, FIRST + SEEDS):
                        row = await one_run(Path(tmp), world, seed, B, select)
                        rows.append(row)
                    print(f"  {world} B={B} {select}: {SEEDS} runs", flush=True)
    return rows


def main() -> None:
    start = time.perf_counter()
    rows = asyncio.run(measure())
    cells, targets = summarize(rows)
    print(table(cells))
    for t in targets:
        d = t["paired_gain_minus_last_beam"]
        print(
            f"  {t['world']} B={t['B']} {t['select']}: P(worse) <= 0.05 {t['p_worse_le_0.05']}, "
            f"gain >= last-beam {t['gain_ge_last_beam']} "
            f"(paired {d['mean']:+.3f} ± {d['ci95']:.3f})"
        )
    plot(cells, RESULTS / f"{NAME}.png")
    q0, queries = rows[0]["q_initial"], {B: (D + 1) * B + VALIDATION + CONFIRM for B in BS}
    search = {"W": W, "M": M, "D": D, "B": list(BS), "validation": VALIDATION}
    search |= {"confirm": CONFIRM, "seeds": SEEDS, "first_seed": FIRST}
    search["seed_queries_per_run"] = queries
    write_result(
        NAME,
        {
            "world": {"noise": NOISE, "query_sd": QUERY_SD, "worlds": WORLDS, "q0": q0},
            "search": search,
            "validation_available": has_validation(),
            "wall_s": round(time.perf_counter() - start, 1),
            "cells": cells,
            "targets": targets,
            "table": table(cells),
            "runs": [{k: v for k, v in r.items() if k != "search"} for r in rows],
        },
    )
