"""A budget that always ends in a validated prompt (``--max-calls``, ``--max-usd``).

With a selection (``select`` race or validation, and validation queries left by the levels) the
run plans its spend: before each stage-2 level it checks that the level's calls and what the
selection and the confirmation would then need (their upper bounds, ``drpo.llm.cost``) still fit
in the budget; when they do not, the search stops there and the candidates so far are raced and
confirmed. Dollars are counted at the dry run's estimate per call (output at its cap: an upper
bound). The budget gate of the model hooks (``drpo.llm.session``) stays the hard limit, and the
only one with ``select="last-beam"`` (nothing to reserve).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drpo.core.config import RunConfig
from drpo.core.data import load_seeds, shuffled
from drpo.core.messages import ICLExample
from drpo.core.plan import validation_count
from drpo.core.racing import patience_of
from drpo.llm.cost import children_per_level, phase_calls
from drpo.llm.estimate import calls_usd, input_tokens_per_call
from drpo.llm.prices import Price


@dataclass(frozen=True)
class Plan:
    """A run's budget in calls and dollars (None: no limit of that kind)."""

    max_calls: int | None
    max_usd: float | None
    prices: dict[str, Price | None]

    @property
    def active(self) -> bool:
        return self.max_calls is not None or self.max_usd is not None

    def usd(self, config: RunConfig, icl: list[ICLExample], calls: dict[str, int]) -> float:
        """Dollars of ``calls`` (the dry run's upper bound; 0 without prices: no --max-usd)."""
        per_call = input_tokens_per_call(config, icl)
        return calls_usd(config, per_call, calls, self.prices) or 0.0

    def fits(
        self,
        config: RunConfig,
        icl: list[ICLExample],
        more: dict[str, int],
        spent_calls: int,
        spent_usd: float,
    ) -> bool:
        """Whether ``more`` calls per role (and their dollars) fit after what was spent."""
        if self.max_calls is not None and spent_calls + sum(more.values()) > self.max_calls:
            return False
        return not (
            self.max_usd is not None and spent_usd + self.usd(config, icl, more) > self.max_usd
        )


def plans_spend(config: RunConfig, n_seeds: int | None) -> bool:
    """Whether a budget reserves anything: P* is selected on validation queries."""
    if config.system_prompt.select == "last-beam":
        return False
    if n_seeds is None:
        n_seeds = len(shuffled(load_seeds(config.seed_dir), 0, config.system_prompt.seeds))
    return validation_count(config, n_seeds) > 0


def level_calls(config: RunConfig, level: int) -> dict[str, int]:
    """Upper bound of the calls of stage-2 level ``level`` (>= 1)."""
    sp = config.search_stage()
    children = children_per_level(sp.W, sp.M, sp.D)[min(level, sp.D) - 1]
    scored = children * sp.B
    checks = patience_of(config)
    if checks and checks.due(level, sp.D):  # the level's progress check (nodes/check.py)
        scored += 2 * checks.queries
        return {"selector": checks.queries, "optimizer": children, "base": scored, "judge": scored}
    return {"optimizer": children, "base": scored, "judge": scored}


def reserve(config: RunConfig, n_icl: int, n_seeds: int, levels: int) -> dict[str, int]:
    """What selection and confirmation need (upper bounds) after ``levels`` stage-2 levels."""
    stopped = config.model_copy(deep=True)
    stopped.search_stage().D = max(1, levels)
    phases = phase_calls(stopped, n_icl, n_seeds)
    out: dict[str, int] = {}
    for phase in ("selection", "confirmation"):
        for role, n in phases[phase].items():
            out[role] = out.get(role, 0) + n
    return out


def next_level_fits(
    plan: Plan,
    config: RunConfig,
    icl: list[ICLExample],
    n_seeds: int,
    done: int,
    spent_calls: int,
    spent_usd: float,
) -> bool:
    """Whether stage-2 level ``done + 1`` and then selection and confirmation fit."""
    more = level_calls(config, done + 1)
    for role, n in reserve(config, len(icl), n_seeds, done + 1).items():
        more[role] = more.get(role, 0) + n
    return plan.fits(config, icl, more, spent_calls, spent_usd)


def least_budget(config: RunConfig, icl: list[ICLExample], n_seeds: int | None) -> dict[str, Any]:
    """The smallest budget that searches one stage-2 level, then selects and confirms."""
    one = config.model_copy(deep=True)
    one.search_stage().D = 1
    phases = phase_calls(one, len(icl), n_seeds)
    calls = {role: sum(p[role] for p in phases.values()) for role in phases["search"]}
    return {"calls": sum(calls.values()), "by_role": calls}
