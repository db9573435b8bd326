"""PNG plots (matplotlib, Agg backend, no display): methods with CIs, radar by task (Fig. 5),
K sweep (Fig. 4), and an optimization run's reward by depth and aspect-selection counts."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from evals.benchmark import REGULAR_ASPECTS  # noqa: E402
from evals.paired import PAIRED_COLUMNS  # noqa: E402
from evals.stats import LABELS  # noqa: E402

_K = re.compile(r"@K=(\d+)$")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def methods_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: each column (5 aspects, Avg., Safety) per method, 95% CI error bars."""
    columns = [*REGULAR_ASPECTS, "avg", "safety"]
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(columns) + 0.4 * len(rows)), 4))
    width = 0.8 / max(1, len(rows))
    colors = [plt.get_cmap("tab20")(i) for i in range(20)]
    for j, row in enumerate(rows):
        s = row["summary"]
        xs, ys, err_lo, err_hi = [], [], [], []
        for i, c in enumerate(columns):
            mean, ci = s["means"][c], s["ci95"][c]
            if mean is None:
                continue
            xs.append(i + (j - (len(rows) - 1) / 2) * width)
            ys.append(mean)
            err_lo.append(mean - ci[0] if ci else 0.0)
            err_hi.append(ci[1] - mean if ci else 0.0)
        ax.bar(
            xs,
            ys,
            width,
            yerr=[err_lo, err_hi],
            capsize=2,
            label=row["label"],
            color=colors[j % len(colors)],
        )
    ax.set_xticks(range(len(columns)), [LABELS[c] for c in columns])
    ax.set_ylim(0, 5.2)
    ax.set_ylabel("score (1-5), 95% bootstrap CI")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def radar_plot(rows: list[dict[str, Any]], tag: str, path: Path) -> Path | None:
    """Avg. per tag value (e.g. task) per method, like the paper's Fig. 5; needs 3+ values."""
    labels = sorted({k for row in rows for k in row["tags"][tag]})
    if len(labels) < 3:
        return None
    angles = [2 * math.pi * i / len(labels) for i in range(len(labels))]
    fig, ax = plt.subplots(figsize=(6, 6), subplot_kw={"projection": "polar"})
    for row in rows:
        values = [row["tags"][tag].get(k, {}).get("avg", 0.0) for k in labels]
        ax.plot([*angles, angles[0]], [*values, values[0]], label=row["label"])
        ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.08)
    ax.set_xticks(angles, labels, fontsize=8)
    ax.set_ylim(0, 5)
    ax.set_title(f"Avg. by {tag}")
    ax.legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.3, 1.1))
    return _save(fig, path)


def k_sweep_plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Avg. against K for the methods named METHOD@K=n (Fig. 4); needs 2+ values of K."""
    points = []
    for row in rows:
        match = _K.search(row["name"])
        mean = row["summary"]["means"]["avg"]
        if match and mean is not None:
            points.append((int(match.group(1)), mean, row["summary"]["ci95"]["avg"]))
    if len(points) < 2:
        return None
    points.sort()
    ks, means = [p[0] for p in points], [p[1] for p in points]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ks, means, marker="o")
    ax.fill_between(
        ks, [p[2][0] if p[2] else p[1] for p in points],
        [p[2][1] if p[2] else p[1] for p in points], alpha=0.2,
    )  # fmt: skip
    ax.set_xlabel("K (ICL examples)")
    ax.set_ylabel("Avg. (95% CI)")
    ax.set_xticks(ks)
    return _save(fig, path)


def run_plots(result: dict[str, Any], folder: Path) -> list[Path]:
    """An optimization run (summary of `drpo show --json`): reward by depth, aspects chosen."""
    records = result["records"]["system_prompt"]
    out: list[Path] = []
    if records:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        levels = [r["level"] for r in records]
        best = [r["best_reward"] if r["best_reward"] is not None else float("nan") for r in records]
        mean = [
            sum(c["reward"] for c in r["candidates"]) / len(r["candidates"])
            if r["candidates"]
            else float("nan")
            for r in records
        ]
        ax.plot(levels, best, marker="o", label="best")
        ax.plot(levels, mean, marker=".", linestyle="--", label="mean of candidates")
        ax.set_xlabel("depth (level)")
        ax.set_ylabel("reward")
        ax.legend()
        out.append(_save(fig, folder / "reward_by_depth.png"))
    counts: Counter[str] = Counter()
    for r in records:
        seen: dict[str, set[str]] = {}
        for c in r["candidates"]:
            for e in c["evaluations"]:
                seen.setdefault(e["query"], set()).update(e["scores"])
        for aspects in seen.values():
            counts.update(aspects)
    if counts:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        names = [n for n, _ in counts.most_common()]
        ax.barh(names[::-1], [counts[n] for n in names][::-1])
        ax.set_xlabel("times selected (one per level query)")
        ax.set_title("dynamic rewarding: aspects selected")
        out.append(_save(fig, folder / "aspects_selected.png"))
    return out


def paired_plot(table: dict[str, Any], path: Path) -> Path:
    """`drpo reproduce`: each row's paired difference to the baseline (Avg. and Safety) with its
    95% CI."""
    rows = [r for r in table["rows"] if r["paired"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.2 + 0.5 * max(1, len(rows))))
    for ax, column in zip(axes, PAIRED_COLUMNS, strict=True):
        for y, row in enumerate(rows):
            d = row["paired"].get(column)
            if d is None:
                continue
            lo, hi = d["ci95"]
            ax.errorbar(d["mean"], y, xerr=[[d["mean"] - lo], [hi - d["mean"]]], fmt="o", capsize=3)
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
        ax.set_title(f"Δ {LABELS[column]} vs {table['baseline']} (paired, 95% CI)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
