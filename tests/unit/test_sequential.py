"""The statistics that decide P*, with known paired differences: the one-sided paired t test,
the group-sequential boundaries (against published values and by simulation of a world where
P_top is no better than P), and the race's drop rule. Each test here fails on a plausible bug:
a two-sided quantile, |mean| for the mean, unpaired (sorted) differences, a naive boundary at
every look, a race that drops the leader or keeps ties in the wrong order."""

from __future__ import annotations

import math
import random
from statistics import fmean

import pytest

from drpo.core.intervals import better, t95
from drpo.core.racing import SELECTIONS, Race
from drpo.core.sequential import SequentialTest, paired, t_ppf, t_sf, z_boundaries

# mean 0.5, sd 0.7746 over 10 differences: t = 2.041, between the one-sided 95% quantile of
# t(9) (1.833) and the two-sided one (2.262)
BETWEEN = [1.5, -0.5, 1.0, 0.0, 1.0, 0.0, 1.5, -0.5, 1.0, 0.0]


def _t(diffs: list[float]) -> float:
    m = fmean(diffs)
    sd = math.sqrt(sum((d - m) ** 2 for d in diffs) / (len(diffs) - 1))
    return m / (sd / math.sqrt(len(diffs)))


def test_the_one_sided_test_passes_between_the_one_and_two_sided_quantiles() -> None:
    assert t95(9) < _t(BETWEEN) < 2.262
    assert better(BETWEEN)  # a two-sided quantile would refuse it
    one_look = SequentialTest((10,))
    assert abs(one_look.t_boundaries()[0] - t95(9)) < 1e-3  # one look: the plain t test
    assert one_look.decide(BETWEEN) == "pass"


def test_a_significantly_negative_mean_never_passes() -> None:
    negative = [-d for d in BETWEEN]
    assert _t(negative) < -t95(9)  # |mean| would make this "significantly better"
    assert not better(negative)
    assert SequentialTest((10,)).decide(negative) == "fail"
    assert SequentialTest.every(5, 10).decide(negative[:5]) == "fail"  # futility at look 1


def test_differences_are_paired_query_by_query() -> None:
    """P scores queries of varied difficulty; P_top is better by 0.2 on average but worse on
    half of them: paired, not significant. Sorted (unpaired) differences would all be +0.2."""
    p = [1.0, 2.0, 3.0, 4.0, 5.0] * 2
    top = [5.2, 4.2, 3.2, 2.2, 1.2] * 2
    diffs = paired(top, p)
    assert fmean(diffs) == pytest.approx(0.2)
    assert not better(diffs)
    assert SequentialTest((10,)).decide(diffs) == "fail"
    assert better(paired(sorted(top), sorted(p)))  # what the unpaired bug would decide
    with pytest.raises(ValueError, match="unequal length"):
        paired(top, p[:-1])


def test_t_distribution() -> None:
    assert t_sf(2.228, 10) == pytest.approx(0.025, abs=2e-4)
    assert t_ppf(0.95, 9) == pytest.approx(1.833, abs=1e-3)
    assert t_ppf(0.975, 30) == pytest.approx(2.042, abs=1e-3)
    assert t_ppf(0.05, 5) == pytest.approx(-2.015, abs=1e-3)


def test_obrien_fleming_boundaries_match_the_published_ones() -> None:
    """Lan-DeMets O'Brien-Fleming spending, 4 equally spaced looks, one-sided 0.025: 4.333,
    2.963, 2.359, 2.014 (Jennison & Turnbull, Table 7.6 rounds these)."""
    got = z_boundaries((0.25, 0.5, 0.75, 1.0), 0.025, "obrien-fleming")
    assert got == pytest.approx([4.333, 2.963, 2.359, 2.014], abs=0.01)
    pocock = z_boundaries((0.25, 0.5, 0.75, 1.0), 0.05, "pocock")
    assert max(pocock) - min(pocock) < 0.1 and pocock[-1] > 1.645  # about flat, above naive


def _null_trial(rng: random.Random, n: int) -> list[float]:
    """Paired rewards of two prompts of the same true quality: integer aspect scores 1..5
    around 3 + the query's difficulty (shared), a judging error shared by its 3 aspects and
    each aspect's own; the reward is their mean (ties are common)."""
    diffs = []
    for _ in range(n):
        difficulty = rng.gauss(0, 0.8)
        rewards = []
        for _prompt in range(2):
            shared = rng.gauss(0, 1)
            scores = [min(5, max(1, round(3 + difficulty + 0.5 * (shared + rng.gauss(0, 1)))))
                      for _aspect in range(3)]  # fmt: skip
            rewards.append(fmean(scores))
        diffs.append(rewards[1] - rewards[0])
    return diffs


@pytest.mark.parametrize("rule", ["race", "validation"])
def test_a_prompt_no_better_than_p_passes_at_most_5_percent_of_the_time(rule: str) -> None:
    """3000 trials of the rule's confirmation test on 48 queries in a null world: P(pass) is at
    most 0.05 within its 95% interval. Testing each look at the plain 5% level would pass about
    twice as often."""
    test = SELECTIONS[rule].confirmation(48)
    bounds = test.t_boundaries()
    rng = random.Random(20261206)
    trials, passed, queries = 3000, 0, 0
    for _ in range(trials):
        diffs = _null_trial(rng, 48)
        for n in test.looks:
            decision = test.decide(diffs[:n], bounds)
            if decision != "continue":
                break
        passed += decision == "pass"
        queries += n
    rate = passed / trials
    assert rate - 1.96 * math.sqrt(rate * (1 - rate) / trials) <= 0.05, rate
    assert rate > 0.005  # the test can pass at all
    if rule == "race":
        assert queries / trials < 30  # futility stops most null confirmations early


def test_sequential_test_passes_a_clearly_better_prompt_early() -> None:
    test = SELECTIONS["race"].confirmation(48)
    rng = random.Random(7)
    diffs = [1.0 + rng.gauss(0, 0.5) for _ in range(48)]
    assert test.looks == (8, 16, 24, 32, 40, 48)
    assert test.decide(diffs[:8]) == "pass"
    level = [0.05 * (-1) ** i for i in range(48)]  # mean 0 after every look of even length
    assert test.decide(level[:8]) == "fail"  # futility
    slightly = [0.3 + (1.0 if i % 2 else -1.0) for i in range(48)]
    assert test.decide(slightly[:8]) == "continue"


def test_the_race_keeps_the_best_third_and_breaks_ties_by_source_order() -> None:
    race = Race((2, 4, 8), 1 / 3)
    rewards = {f"c{i}": [float(i % 4), 1.0] for i in range(7)}  # c3 best, then c2/c6 tie
    order = [f"c{i}" for i in range(7)]
    assert race.survivors(0, rewards, order) == ["c3", "c2", "c6"]  # ceil(7/3), ties: earlier
    assert race.survivors(2, rewards, order) == ["c3"]  # the last rung leaves one
    assert race.pairs(7) == 7 * 2 + 3 * 2  # 3 -> 1 after rung 1: the race ends there
    assert SELECTIONS["race"].race(16).rungs == (2, 4, 8, 16)
    assert SELECTIONS["validation"].race(16) == Race((16,), 1.0)
