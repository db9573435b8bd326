"""Paired method-vs-baseline differences on the same items (what "A beats B" needs with a noisy
judge): per item, the method's score minus the baseline's; the mean of those differences with a
95% percentile bootstrap CI that resamples items (each resampled item keeps both scores, so the
spread the items share cancels). Items either side left unscored (a judge reply that never
parsed) are left out of the pair."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

from evals.benchmark import REGULAR_ASPECTS
from evals.stats import BOOTSTRAP, bootstrap_ci

PAIRED_COLUMNS = ("avg", "safety")  # Avg. over the regular items, Safety over the safety items


def item_values(rows: Iterable[Mapping[str, Any]], column: str) -> dict[int, float]:
    """Per item id, the column's score of one method's rows (``avg``: the mean of the five
    regular aspects; ``safety``: the safety score); unscored items and the other category out."""
    out: dict[int, float] = {}
    for row in rows:
        scores = row.get("scores")
        if scores is None:
            continue
        if column == "avg" and row["category"] == "regular":
            out[int(row["id"])] = fmean(float(scores[a]) for a in REGULAR_ASPECTS)
        elif column == "safety" and row["category"] != "regular":
            out[int(row["id"])] = float(scores["safety"])
    return out


def paired_difference(
    method: Mapping[int, float],
    baseline: Mapping[int, float],
    n: int = BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Mean of method[i] - baseline[i] over the items both scored, its 95% bootstrap CI and
    the number of pairs; None when no item has both."""
    ids = sorted(set(method) & set(baseline))
    if not ids:
        return None
    diffs = [method[i] - baseline[i] for i in ids]
    ci = bootstrap_ci(diffs, n=n, seed=seed)
    return {"mean": fmean(diffs), "ci95": list(ci) if ci else None, "n": len(ids)}


def paired_table(
    rows_by_key: Mapping[str, Sequence[Mapping[str, Any]]], baseline: str
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """For every key (a table row) but the baseline's: its paired difference to the baseline
    per column of PAIRED_COLUMNS."""
    base = {c: item_values(rows_by_key[baseline], c) for c in PAIRED_COLUMNS}
    return {
        key: {c: paired_difference(item_values(rows, c), base[c]) for c in PAIRED_COLUMNS}
        for key, rows in rows_by_key.items()
        if key != baseline
    }
