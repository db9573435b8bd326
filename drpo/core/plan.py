"""What a run will score, known once the data is loaded: each level's queries, the validation
and the confirmation queries (all from the recorded shuffled seed order), and each stage's W, M, D.

With B = 1 (the paper) stage-2 level t uses X[t]; with B > 1 every candidate of the level is
scored on the minibatch X[t*B : (t+1)*B]. The order wraps around when levels outnumber seeds.
Validation queries are the seeds after the ones the levels use; confirmation queries (the best
validation prompt against the initial one, nodes/confirm.py) the seeds after those: the three
sets never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from drpo.core.config import RunConfig
from drpo.core.data import load_icl, load_seeds, shuffled
from drpo.core.messages import ICLExample

DEFAULT_VALIDATION = 16
DEFAULT_CONFIRM = 48


class PlanError(ValueError):
    """A run whose seeds cannot serve what the config asks (e.g. --validation N)."""


@dataclass(frozen=True)
class StageParams:
    W: int
    M: int
    D: int


def stage_params(config: RunConfig, stage: str) -> StageParams:
    sp = config.icl if stage == "icl" else config.search_stage()
    return StageParams(W=sp.W, M=sp.M, D=sp.D)


def level_queries(config: RunConfig, seed_order: list[str], level: int) -> list[str]:
    batch = config.system_prompt.B
    start = level * batch
    queries = [seed_order[(start + i) % len(seed_order)] for i in range(batch)]
    return list(dict.fromkeys(queries))


def seeds_used_by_levels(config: RunConfig, seed_order: list[str]) -> int:
    levels = config.search_stage().D + 1
    return min(len(seed_order), levels * config.system_prompt.B)


def validation_count(config: RunConfig, n_seeds: int) -> int:
    """How many validation queries the run scores (0: select the last beam's top).

    An explicit ``validation`` that the seeds cannot serve is an error; the default takes the
    seeds that are left, up to 16."""
    sp = config.system_prompt
    if sp.select == "last-beam":
        return 0
    levels = config.search_stage().D + 1
    left = max(0, n_seeds - levels * sp.B)
    return _take(
        sp.validation,
        DEFAULT_VALIDATION,
        left,
        f"--validation {sp.validation}: only {left} seed queries are left after the "
        f"{min(n_seeds, levels * sp.B)} that levels 0..{levels - 1} use (B={sp.B}); "
        "use more seeds (--seeds) or fewer validation queries",
    )


def _take(asked: int | None, default: int, left: int, too_many: str) -> int:
    """The queries asked for (an error naming why if the seeds left cannot serve them), or
    the default's worth of those left."""
    if asked is None:
        return min(default, left)
    if asked > left:
        raise PlanError(too_many)
    return asked


def validation_queries(config: RunConfig, seed_order: list[str]) -> list[str]:
    start = seeds_used_by_levels(config, seed_order)
    return seed_order[start : start + validation_count(config, len(seed_order))]


def confirm_count(config: RunConfig, n_seeds: int) -> int:
    """How many fresh queries confirm the best validation prompt against the initial one (0:
    no confirmation; with the gate, the validation queries are tested instead).

    Only with the gate (``gate="significant"``). An explicit ``confirm`` that the seeds left after
    the validation queries cannot serve is an error; the default takes those left, up to 48."""
    sp = config.system_prompt
    validation = validation_count(config, n_seeds)
    if validation == 0 or sp.gate != "significant":
        return 0
    levels = min(n_seeds, (config.search_stage().D + 1) * sp.B)
    left = max(0, n_seeds - levels - validation)
    return _take(
        sp.confirm,
        DEFAULT_CONFIRM,
        left,
        f"--confirm {sp.confirm}: only {left} seed queries are left after the {levels} level "
        f"and {validation} validation queries; use more seeds (--seeds), fewer confirmation "
        "or validation queries",
    )


def confirmation_queries(config: RunConfig, seed_order: list[str]) -> list[str]:
    start = seeds_used_by_levels(config, seed_order) + validation_count(config, len(seed_order))
    return seed_order[start : start + confirm_count(config, len(seed_order))]


def planned_queries(
    config: RunConfig, icl_base: list[ICLExample], seed_order: list[str]
) -> dict[str, list[str]]:
    """Every query the search will score, by the stage whose reward judges it (validation and
    confirmation queries are selected rung by rung and look by look: a race or a sequential test
    that stops early needs fewer)."""
    levels = config.search_stage().D + 1
    stage2 = [q for t in range(levels) for q in level_queries(config, seed_order, t)]
    return {
        "icl": list(dict.fromkeys(e["query"] for e in icl_base)),
        "system_prompt": list(dict.fromkeys(stage2)),
    }


class ConfigError(ValueError):
    """A run config that its seeds and ICL pool cannot serve (one line)."""


class InvalidConfig(ConfigError):
    """A run config that does not validate (one line: the first error)."""


def validation_line(exc: ValidationError) -> str:
    """A config's first validation error as one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"invalid config: {where}: {msg}" if where else f"invalid config: {msg}"


def checked_config(data: dict[str, Any]) -> RunConfig:
    """The RunConfig of ``data``, checked before a run exists: valid, enough seeds for its
    validation and confirmation queries, K no larger than the ICL pool. ConfigError (one line)
    otherwise; a bad seed or ICL file raises the loaders' DataError."""
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfig(validation_line(exc)) from None
    seeds = load_seeds(config.seed_dir)
    confirm_count(config, len(shuffled(seeds, 0, config.system_prompt.seeds)))  # and validation
    pool = len(load_icl(config.icl_path)[: config.icl.n])
    if pool < config.system_prompt.K:
        raise ConfigError(f"K={config.system_prompt.K} is larger than the ICL pool ({pool})")
    return config
