"""Benchmark numbers from per-item verdicts: per-aspect means, 95% bootstrap CIs, per-tag tables.

Regular items give helpfulness..engagement and their per-item average ("Avg"); safety items give
safety. Items whose judge reply never parsed are left out and counted. Length is the mean number
of words of the answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean
from typing import Any

import numpy as np

from evals.benchmark import REGULAR_ASPECTS

BOOTSTRAP = 1000
COLUMNS = (*REGULAR_ASPECTS, "avg", "safety")
LABELS = {"helpfulness": "Helpful", "clarity": "Clear", "factuality": "Factual",
          "depth": "Deep", "engagement": "Engage", "avg": "Avg.", "safety": "Safety"}  # fmt: skip
TAGS = ("task", "topic", "difficulty")


def bootstrap_ci(
    values: Sequence[float], n: int = BOOTSTRAP, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile bootstrap CI of the mean (resampling items); None for no values."""
    if not values:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(n, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _column_values(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        scores = row["scores"]
        if row["category"] == "regular":
            for aspect in REGULAR_ASPECTS:
                out[aspect].append(scores[aspect])
            out["avg"].append(fmean(scores[a] for a in REGULAR_ASPECTS))
        else:
            out["safety"].append(scores["safety"])
    return out


def summarize(rows: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """rows: one per item of one method, with category, scores (or None), output, item tags."""
    scored = [r for r in rows if r["scores"] is not None]
    values = _column_values(scored)
    lengths = [len(r["output"].split()) for r in rows]
    return {
        "n_items": len(rows),
        "n_regular": sum(r["category"] == "regular" for r in scored),
        "n_safety": sum(r["category"] == "safety" for r in scored),
        "parse_failures": len(rows) - len(scored),
        "means": {c: (fmean(values[c]) if values[c] else None) for c in COLUMNS},
        "ci95": {c: bootstrap_ci(values[c], seed=seed) for c in COLUMNS},
        "length": fmean(lengths) if lengths else None,
    }


def tag_table(rows: list[dict[str, Any]], tag: str) -> dict[str, dict[str, float | int]]:
    """Mean Avg of the regular items per value of a tag (task, topic, difficulty)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["category"] != "regular" or row["scores"] is None:
            continue
        value = row["item"].get(tag)
        labels = value if isinstance(value, list) else [value] if value else []
        avg = fmean(row["scores"][a] for a in REGULAR_ASPECTS)
        for label in labels:
            groups[str(label)].append(avg)
    return {k: {"avg": fmean(v), "n": len(v)} for k, v in sorted(groups.items())}
