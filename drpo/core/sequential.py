"""Paired tests that may stop early: Student's t distribution, a group-sequential one-sided test
with an alpha-spending boundary (confirmation), and the paired drop rule of a race (validation).

Group-sequential test (Lan & DeMets, O'Brien-Fleming-type spending): looks after n_1 < ... < n_K
paired differences; at look k the test passes when t_k = mean / (sd / sqrt(n_k)) reaches the
boundary b_k. The z boundaries c_k spend alpha*(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) at the
information fractions t_k = n_k / n_K (computed by numerical integration of the score process,
Armitage-McPherson-Rowe), so that P(pass at some look) = alpha for normal differences; each c_k
is then carried to Student's t with n_k - 1 degrees of freedom at the same nominal p-value.
Stopping for futility (mean <= 0 before the last look) only removes chances to pass: the overall
false-pass rate stays <= alpha (a non-binding futility rule).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev
from typing import Literal

import numpy as np

_N = NormalDist()
GRID = 1201  # points of the score's sub-density per look


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):  # fmt: skip
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: int) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_ppf(p: float, df: int) -> float:
    """The quantile of Student's t: the t with P(T <= t) = p (bisection on ``t_sf``)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1.0 - t_sf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def obrien_fleming(alpha: float, fraction: float) -> float:
    """O'Brien-Fleming-type spending (Lan & DeMets, one-sided): little alpha at early looks."""
    return 2.0 - 2.0 * _N.cdf(_N.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(fraction))


def pocock(alpha: float, fraction: float) -> float:
    """Pocock-type spending (Lan & DeMets): about even boundaries, earlier success stops."""
    return alpha * math.log(1.0 + (math.e - 1.0) * fraction)


Spending = Literal["obrien-fleming", "pocock"]
SPENDING = {"obrien-fleming": obrien_fleming, "pocock": pocock}


@functools.lru_cache(maxsize=64)
def z_boundaries(fractions: tuple[float, ...], alpha: float, spending: Spending) -> list[float]:
    """The one-sided z boundaries at the information fractions (increasing, last 1)."""
    spent = functools.partial(SPENDING[spending], alpha)
    bounds: list[float] = []
    grid = density = None  # sub-density of the score S_k = Z_k sqrt(t_k) among runs not stopped
    prev_t, prev_spent = 0.0, 0.0
    for t in fractions:
        target = spent(t) - prev_spent
        if grid is None or density is None:
            c = _N.inv_cdf(1.0 - target)
            grid = np.linspace(-10 * math.sqrt(t), c * math.sqrt(t), GRID)
            density = np.exp(-(grid**2) / (2 * t)) / math.sqrt(2 * math.pi * t)
        else:
            sd = math.sqrt(t - prev_t)
            step = grid[1] - grid[0]
            lo, hi = -10.0, 20.0
            for _ in range(60):
                mid = (lo + hi) / 2
                crossed = _crossing(mid * math.sqrt(t), sd, grid, density)
                lo, hi = (lo, mid) if crossed < target else (mid, hi)
            c = (lo + hi) / 2
            new = np.linspace(-10 * math.sqrt(t), c * math.sqrt(t), GRID)
            kernel = np.exp(-((new[:, None] - grid[None, :]) ** 2) / (2 * sd * sd))
            density = kernel @ density * step / (sd * math.sqrt(2 * math.pi))
            grid = new
        bounds.append(c)
        prev_t, prev_spent = t, spent(t)
    return bounds


def _crossing(bound: float, sd: float, grid: np.ndarray, density: np.ndarray) -> float:
    """P(the score goes from not stopped (``density`` on ``grid``) to at least ``bound``)."""
    tail = 1.0 - _normal_cdf((bound - grid) / sd)
    return float(np.sum(density * tail) * (grid[1] - grid[0]))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi, vectorised (Abramowitz & Stegun 7.1.26: |error of erf| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    k = 1.0 / (1.0 + 0.3275911 * z)
    poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027
                + k * 1.061405429))))  # fmt: skip
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


Decision = Literal["pass", "fail", "continue"]


def t_statistic(diffs: Sequence[float]) -> float | None:
    """The paired t statistic; None when it is undefined (one value, or no spread)."""
    if len(diffs) < 2 or stdev(diffs) == 0:
        return None
    return fmean(diffs) / (stdev(diffs) / math.sqrt(len(diffs)))


def paired(top: Sequence[float], initial: Sequence[float]) -> list[float]:
    """Per-query differences top - initial, query by query (the same queries, in one order)."""
    if len(top) != len(initial):
        raise ValueError(f"paired scores of unequal length: {len(top)} and {len(initial)}")
    return [t - i for t, i in zip(top, initial, strict=True)]


@dataclass(frozen=True)
class SequentialTest:
    """A one-sided paired test of mean > 0 with looks after ``looks`` differences."""

    looks: tuple[int, ...]
    alpha: float = 0.05
    spending: Spending = "obrien-fleming"

    @classmethod
    def every(
        cls, step: int, total: int, alpha: float = 0.05, spending: Spending = "obrien-fleming"
    ) -> SequentialTest:
        """Looks every ``step`` differences up to ``total`` (the last look at ``total``)."""
        looks = list(range(step, total, step)) + [total]
        return cls(tuple(n for n in looks if n >= 2) or (total,), alpha, spending)

    def t_boundaries(self) -> list[float]:
        """The boundary of t at each look: the z boundary's nominal p-value, in Student's t."""
        fractions = tuple(n / self.looks[-1] for n in self.looks)
        zs = z_boundaries(fractions, self.alpha, self.spending)
        return [t_ppf(_N.cdf(z), max(1, n - 1)) for z, n in zip(zs, self.looks, strict=True)]

    def decide(self, diffs: Sequence[float], bounds: Sequence[float] | None = None) -> Decision:
        """At a look (``len(diffs)`` is one of ``looks``): pass, fail or go on."""
        k = self.looks.index(len(diffs))
        bound = (bounds or self.t_boundaries())[k]
        mean, t = fmean(diffs), t_statistic(diffs)
        passed = mean > 0 and (t is None or t >= bound)  # no spread: every difference > 0
        if passed:
            return "pass"
        if k == len(self.looks) - 1 or mean <= 0:
            return "fail"  # the last look, or futility: behind or level with P
        return "continue"
