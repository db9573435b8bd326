"""Expected LLM calls of a run (paper A.5), as this implementation makes them.

A.5 counts W*M per level for D levels. Here level 0 scores s_0 itself (1 judge call per
ICL example; 1 generation + 1 judge per query in stage 2, plus that level's aspect selection),
and level 1 expands the single initial state, so it has M children, not W*M. The beam holds
min(W, children) states. Selection scores up to n = 1 + D + (W - 1) distinct prompts (the
initial one, each level's best, the rest of the final beam) on the V held-out validation
queries, each (prompt, query) one generation and one judge call, and selects V more aspects:
``validation`` every prompt on every query (n * V), ``race`` rung by rung, the best third going
on (``drpo.core.racing.Race.pairs``); with the gate, the best of them and the initial prompt on
up to C confirmation queries (2C scorings and C selections; fewer when the sequential test stops
early, none when the initial prompt is the best). Duplicate proposals (dropped before scoring),
texts that recur among the validation candidates, a confirmation stopped early or skipped and
ICL tracks stopped early lower these numbers: they are upper bounds. ``phase_calls`` splits them
into search (with ``--patience``, its checks: ``drpo.core.racing.Patience``), selection (the race)
and confirmation.
"""

from __future__ import annotations

from drpo.core.config import RunConfig
from drpo.core.data import load_seeds, shuffled
from drpo.core.plan import confirm_count, validation_count
from drpo.core.racing import SELECTIONS, patience_of


def children_per_level(W: int, M: int, D: int) -> list[int]:
    beam, out = 1, []
    for _ in range(D):
        out.append(beam * M)
        beam = min(W, beam * M)
    return out


def phase_calls(
    config: RunConfig, n_icl: int, n_seeds: int | None = None
) -> dict[str, dict[str, int]]:
    """Upper bounds of the calls per role of the search, the selection and the confirmation."""
    icl, sp = config.icl, config.search_stage()  # mc: one level of all samples
    icl_children = sum(children_per_level(icl.W, icl.M, icl.D))
    per_level = children_per_level(sp.W, sp.M, sp.D)
    sp_children = sum(per_level)
    if n_seeds is None:
        n_seeds = len(shuffled(load_seeds(config.seed_dir), 0, sp.seeds))
    V, C = validation_count(config, n_seeds), confirm_count(config, n_seeds)
    gated = C > 0 and config.system_prompt.gate == "significant"
    rule = SELECTIONS["validation" if not gated else config.system_prompt.select]
    n = sp.D + min(sp.W, per_level[-1])
    race = rule.race(V, n, config.system_prompt.select_budget) if V else None
    raced, V = (race.pairs(n), race.rungs[-1]) if race else (0, 0)
    dynamic = {stage: config.stage_reward(stage) == "dynamic" for stage in ("icl", "system_prompt")}
    levels = min(n_seeds, (sp.D + 1) * sp.B)
    search = (1 + sp_children) * sp.B
    checks = patience_of(config)
    check = checks.calls(sp.D, dynamic["system_prompt"]) if checks and V else _scoring(0, 0)
    return {
        "search": {
            "selector": n_icl * dynamic["icl"]
            + levels * dynamic["system_prompt"]
            + check["selector"],
            "optimizer": n_icl * icl_children + sp_children,
            "base": search + check["base"],
            "judge": n_icl * (1 + icl_children) + search + check["judge"],
        },
        "selection": _scoring(raced, V * dynamic["system_prompt"]),
        "confirmation": _scoring(2 * C, C * dynamic["system_prompt"]),
    }


def _scoring(pairs: int, selections: int) -> dict[str, int]:
    return {"selector": selections, "optimizer": 0, "base": pairs, "judge": pairs}


def expected_calls(config: RunConfig, n_icl: int, n_seeds: int | None = None) -> dict[str, int]:
    """Upper bounds of the calls per role of the whole run."""
    phases = phase_calls(config, n_icl, n_seeds)
    return {role: sum(p[role] for p in phases.values()) for role in phases["search"]}


def paper_a5(
    W: int, M: int, D: int, n_icl: int, icl_W: int, icl_M: int, icl_D: int
) -> dict[str, int]:
    """The paper's formulas: C_system and C_ICL split by role."""
    return {
        "selector": D + n_icl,
        "optimizer": W * M * D + n_icl * icl_W * icl_M * icl_D,
        "base": W * M * D,
        "judge": W * M * D + n_icl * icl_W * icl_M * icl_D,
    }
