"""Expected LLM calls of a run (paper A.5), as this implementation makes them.

A.5 counts W*M per level for D levels. Here level 0 scores s_0 itself (1 judge call per
ICL example; 1 generation + 1 judge per query in stage 2, plus that level's aspect selection),
and level 1 expands the single initial state, so it has M children, not W*M. The beam holds
min(W, children) states. Duplicate proposals (dropped before scoring) lower these numbers.
"""

from __future__ import annotations

from drpo.config import RunConfig


def children_per_level(W: int, M: int, D: int) -> list[int]:
    beam, out = 1, []
    for _ in range(D):
        out.append(beam * M)
        beam = min(W, beam * M)
    return out


def expected_calls(config: RunConfig, n_icl: int) -> dict[str, int]:
    icl, sp = config.icl, config.search_stage()  # mc: one level of all samples
    icl_children = sum(children_per_level(icl.W, icl.M, icl.D))
    sp_children = sum(children_per_level(sp.W, sp.M, sp.D))
    scored = (1 + sp_children) * sp.B
    selections = 0 if config.reward == "static" else n_icl + (sp.D + 1) * sp.B
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
