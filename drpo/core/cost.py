"""Expected LLM calls of a run (paper A.5), as this implementation makes them.

A.5 counts W*M per level for D levels. Here level 0 scores s_0 itself (1 judge call per
ICL example; 1 generation + 1 judge per query in stage 2, plus that level's aspect selection),
and level 1 expands the single initial state, so it has M children, not W*M. The beam holds
min(W, children) states. Validation selection (``select="validation"``) scores up to
1 + D + (W - 1) distinct prompts (the initial one, each level's best, the rest of the final
beam) on V held-out queries, each one generation and one judge call, and selects V more
aspects; with the gate, the best of them and the initial prompt on C confirmation queries (C
more selections; the 2C scorings are skipped when the initial prompt is the best). Duplicate
proposals (dropped before scoring), texts that recur among the validation candidates, a skipped
confirmation and ICL tracks stopped early lower these numbers: they are upper bounds.
"""

from __future__ import annotations

from drpo.core.config import RunConfig
from drpo.core.data import load_seeds, shuffled
from drpo.core.plan import confirm_count, validation_count


def children_per_level(W: int, M: int, D: int) -> list[int]:
    beam, out = 1, []
    for _ in range(D):
        out.append(beam * M)
        beam = min(W, beam * M)
    return out


def expected_calls(config: RunConfig, n_icl: int, n_seeds: int | None = None) -> dict[str, int]:
    icl, sp = config.icl, config.search_stage()  # mc: one level of all samples
    icl_children = sum(children_per_level(icl.W, icl.M, icl.D))
    per_level = children_per_level(sp.W, sp.M, sp.D)
    sp_children = sum(per_level)
    if n_seeds is None:
        n_seeds = len(shuffled(load_seeds(config.seed_dir), 0, sp.seeds))
    V, C = validation_count(config, n_seeds), confirm_count(config, n_seeds)
    validated = (sp.D + min(sp.W, per_level[-1])) * V + 2 * C if V else 0
    scored = (1 + sp_children) * sp.B + validated
    dynamic = {stage: config.stage_reward(stage) == "dynamic" for stage in ("icl", "system_prompt")}
    queries = min(n_seeds, (sp.D + 1) * sp.B) + V + C
    selections = n_icl * dynamic["icl"] + queries * dynamic["system_prompt"]
    return {
        "selector": selections,
        "optimizer": n_icl * icl_children + sp_children,
        "base": scored,
        "judge": n_icl * (1 + icl_children) + scored,
    }


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
