"""How P* is selected after the search: named strategy objects (``SELECTIONS``), asked by the
validation and confirmation nodes instead of tests on the selection's name.

- ``race`` (default): the candidates race on the validation queries, paired, in the planned seed
  order: all of them on the first rung's queries, then only the best third (by mean; ties go to
  the earlier source) on the next rung's, until one is left or the queries run out (successive
  halving, as TRIPLE and HbBoPs select prompts). The best then meets the initial prompt P on
  fresh confirmation queries in a group-sequential test (``drpo.core.sequential``): looks every
  8 queries up to C (Pocock-type alpha spending), stopping early for success or futility,
  overall false-pass rate <= 5%.
- ``validation``: every candidate on every validation query (one rung), then one fixed-size
  confirmation (one look at C queries): the rule before racing.

Each rung and each look is one round of scoring (generate -> judge), checkpointed like a level.

``Patience`` is the search's optional early stop (``--patience N``, nodes/check.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean

from drpo.core.config import RunConfig
from drpo.core.sequential import SequentialTest, Spending


@dataclass(frozen=True)
class Race:
    """Rungs end after ``rungs[r]`` validation queries (cumulative); after a rung but the last,
    ``ceil(keep * alive)`` candidates go on."""

    rungs: tuple[int, ...]
    keep: float

    def survivors(self, rung: int, rewards: dict[str, list[float]], order: list[str]) -> list[str]:
        """The candidates that run the next rung (one: the race is over), best first; ``order``
        lists the alive ones by source (ties go to the earlier)."""
        ranked = sorted(order, key=lambda cid: (-fmean(rewards[cid]), order.index(cid)))
        if rung == len(self.rungs) - 1:
            return ranked[:1]
        return ranked[: max(1, math.ceil(self.keep * len(ranked)))]

    def calls(self, candidates: int) -> int:
        """Model calls of the race at most: an answer and a judgement per scoring, an aspect
        selection per query."""
        return 2 * self.pairs(candidates) + self.rungs[-1]

    def pairs(self, candidates: int) -> int:
        """(candidate, query) scorings of a race of ``candidates`` (distinct texts)."""
        total, alive, done = 0, candidates, 0
        for n in self.rungs:
            total += alive * (n - done)
            done, alive = n, max(1, math.ceil(self.keep * alive))
            if alive == 1 and n != self.rungs[-1]:
                break
        return total


@dataclass(frozen=True)
class Selection:
    """A selection rule: the race on V validation queries, the sequential test on C."""

    name: str
    first_rung: int  # 0: one rung of all V queries
    keep: float
    look_every: int  # 0: one look at all C queries
    spending: Spending

    def race(self, V: int, candidates: int = 0, budget: int | None = None) -> Race:
        """The race on V validation queries; with a ``budget`` of calls, on the most queries
        (up to V) whose race of ``candidates`` it affords (at least one)."""
        while budget is not None and V > 1 and self.race(V).calls(candidates) > budget:
            V -= 1
        if not self.first_rung or self.first_rung >= V:
            return Race((V,), 1.0)
        rungs, n = [], self.first_rung
        while n < V:
            rungs.append(n)
            n *= 2
        return Race((*rungs, V), self.keep)

    def confirmation(self, C: int) -> SequentialTest:
        if not self.look_every:
            return SequentialTest((C,))
        return SequentialTest.every(self.look_every, C, spending=self.spending)


SELECTIONS = {
    "race": Selection("race", first_rung=2, keep=1 / 3, look_every=8, spending="pocock"),
    "validation": Selection("validation", 0, 1.0, 0, "obrien-fleming"),
}


@dataclass(frozen=True)
class Patience:
    """The search stops when it stops improving: after every ``every``-th stage-2 level (not the
    last), the level's best meets the best prompt so far (at first the initial prompt P) on the
    first ``queries`` validation queries, paired; a higher mean makes it the best so far, and
    ``checks`` checks in a row without one end the search. The race still sees every level's
    best, and confirmation's fresh queries still guard P*."""

    checks: int
    every: int = 2
    queries: int = 4

    def due(self, level: int, D: int) -> bool:
        """Whether the level just closed is checked."""
        return 0 < level < D and level % self.every == 0

    def calls(self, D: int, dynamic: bool) -> dict[str, int]:
        """Calls of every check of a full search at most: P and the first best on the queries,
        then one best per check; the queries' aspects once."""
        n = sum(self.due(level, D) for level in range(1, D))
        pairs = (n + 1) * self.queries if n else 0
        return {"selector": self.queries * dynamic if n else 0, "optimizer": 0,
                "base": pairs, "judge": pairs}  # fmt: skip


def patience_of(config: RunConfig) -> Patience | None:
    """The run's early stop (``system_prompt.patience``), if any."""
    checks = config.system_prompt.patience
    return Patience(checks) if checks is not None and config.search != "mc" else None
