"""Paired differences (evals/paired.py) against cases whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from evals.benchmark import REGULAR_ASPECTS
from evals.paired import item_values, paired_difference, paired_table
from evals.stats import bootstrap_ci


def test_a_constant_shift_is_found_exactly_whatever_the_items_spread() -> None:
    # items differ a lot (1..5), the method is better by exactly 0.5 on every one: the paired
    # difference is 0.5 with a CI of width 0; unpaired, the spread of the items would show
    baseline = {i: 1.0 + (i * 7 % 9) / 2 for i in range(40)}
    method = {i: v + 0.5 for i, v in baseline.items()}
    d = paired_difference(method, baseline)
    assert d is not None and d["n"] == 40
    assert d["mean"] == pytest.approx(0.5)
    assert d["ci95"] == pytest.approx([0.5, 0.5])
    unpaired = bootstrap_ci(list(method.values()))
    assert unpaired is not None and unpaired[1] - unpaired[0] > 0.5  # what pairing removes


def test_only_items_both_scored_are_paired_by_id() -> None:
    baseline = {1: 2.0, 2: 3.0, 3: 4.0}
    method = {3: 5.0, 2: 3.0, 4: 1.0}  # item 4 has no baseline score, item 1 no method score
    d = paired_difference(method, baseline)
    assert d is not None and d["n"] == 2
    assert d["mean"] == pytest.approx(((5 - 4) + (3 - 3)) / 2)
    assert paired_difference({9: 1.0}, baseline) is None


def test_the_ci_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    # simulated evaluations with a known true difference of 0.3: per-item difficulty shared
    # by both methods, independent judge noise; the 95% CI must cover 0.3 in ~95% of them
    rng = np.random.default_rng(7)
    covered = 0
    trials = 300
    for t in range(trials):
        difficulty = rng.normal(3.0, 1.0, 60)
        base = difficulty + rng.normal(0, 0.4, 60)
        meth = difficulty + 0.3 + rng.normal(0, 0.4, 60)
        d = paired_difference(dict(enumerate(meth)), dict(enumerate(base)), seed=t)
        assert d is not None
        covered += d["ci95"][0] <= 0.3 <= d["ci95"][1]
    assert 0.90 <= covered / trials <= 0.99


def _row(item: int, avg: float | None, category: str = "regular") -> dict[str, object]:
    if avg is None:
        scores = None
    elif category == "regular":
        scores = dict.fromkeys(REGULAR_ASPECTS, avg)
    else:
        scores = {"safety": avg}
    return {"id": item, "category": category, "scores": scores}


def test_item_values_and_the_table_of_a_baseline() -> None:
    rows = {
        "base": [_row(1, 3.0), _row(2, 4.0), _row(900, 5.0, "safety")],
        "drpo": [_row(1, 4.0), _row(2, None), _row(900, 3.0, "safety")],
    }
    assert item_values(rows["drpo"], "avg") == {1: 4.0}  # the unparsed item is left out
    assert item_values(rows["drpo"], "safety") == {900: 3.0}
    table = paired_table(rows, "base")
    assert set(table) == {"drpo"}  # no row for the baseline itself
    avg, safety = table["drpo"]["avg"], table["drpo"]["safety"]
    assert avg is not None and avg["mean"] == 1.0 and avg["n"] == 1
    assert safety is not None and safety["mean"] == -2.0
