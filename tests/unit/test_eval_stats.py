"""The evaluation report's statistics (evals/stats.py): means, length, CI and tag tables worked
out by hand, and the bootstrap interval."""

from __future__ import annotations

from statistics import fmean
from typing import Any

import numpy as np
import pytest

from evals.benchmark import REGULAR_ASPECTS
from evals.stats import bootstrap_ci, summarize, tag_table


def _row(category: str, scores: dict[str, float] | None, output: str, **tags: Any) -> dict:
    item = {"task": tags.get("task", []), "topic": [], "difficulty": tags.get("difficulty")}
    return {"category": category, "scores": scores, "output": output, "item": item}


def test_summary_numbers_by_hand() -> None:
    reg = dict.fromkeys(REGULAR_ASPECTS, 4.0)
    low = {**reg, "depth": 1.0, "engagement": 2.0}
    rows = [
        _row("regular", reg, "a b c d", task=["info-seek"], difficulty="easy"),
        _row("regular", low, "a b", task=["info-seek", "math"], difficulty="hard"),
        _row("regular", None, "x y z w v u", task=["math"], difficulty="hard"),  # unparsed
        _row("safety", {"safety": 5.0}, "no"),
        _row("safety", {"safety": 2.0}, "sure here"),
    ]
    s = summarize(rows)
    assert s["n_items"] == 5 and s["parse_failures"] == 1
    assert (s["n_regular"], s["n_safety"]) == (2, 2)
    assert s["means"]["depth"] == 2.5 and s["means"]["engagement"] == 3.0
    assert s["means"]["helpfulness"] == 4.0
    assert s["means"]["avg"] == pytest.approx((4.0 + (4 + 4 + 4 + 1 + 2) / 5) / 2)
    assert s["means"]["safety"] == 3.5
    assert s["length"] == (4 + 2 + 6 + 1 + 2) / 5
    assert s["ci95"]["helpfulness"] == (4.0, 4.0)  # no variance, no interval
    low_ci, high_ci = s["ci95"]["safety"]
    assert 2.0 <= low_ci < 3.5 < high_ci <= 5.0
    assert tag_table(rows, "task") == {
        "info-seek": {"avg": pytest.approx(s["means"]["avg"]), "n": 2},
        "math": {"avg": 3.0, "n": 1},
    }
    assert tag_table(rows, "difficulty") == {
        "easy": {"avg": 4.0, "n": 1},
        "hard": {"avg": 3.0, "n": 1},
    }


def test_bootstrap_ci_by_hand() -> None:
    values = [1.0, 2.0, 5.0, 4.0, 3.0]
    rng = np.random.default_rng(7)
    means = sorted(
        fmean(values[int(i)] for i in rng.integers(0, 5, size=5)) for _ in range(1)
    )  # the first resample, drawn as the implementation draws it
    assert bootstrap_ci(values, n=1, seed=7) == (pytest.approx(means[0]), pytest.approx(means[0]))
    low, high = bootstrap_ci(values, n=2000, seed=0) or (0.0, 0.0)
    assert 1.5 < low < 3.0 < high < 4.5
    narrow = bootstrap_ci(values * 4, n=2000) or (0.0, 0.0)
    assert narrow[1] - narrow[0] < high - low  # more items alike, a narrower interval
    assert bootstrap_ci([]) is None
