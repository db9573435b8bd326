"""Means with 95% confidence intervals (Student's t), for validation selection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean, stdev

from typing_extensions import TypedDict

# two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.96


class MeanCI(TypedDict):
    mean: float
    ci95: list[float] | None  # [low, high]; None for fewer than two values


def mean_ci(values: Sequence[float]) -> MeanCI:
    mean = fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95": None}
    half = t975(len(values) - 1) * stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "ci95": [mean - half, mean + half]}
