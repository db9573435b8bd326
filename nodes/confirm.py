"""Confirmation of the best validation prompt (stage B of validation selection, the gate).

Stage A (choose_prompt, nodes/validate.py) picks P_top among the candidates. Its validation scores
cannot also test it: picked as the best of several noisy means, it is favoured by luck. So only
P_top and the initial prompt P are answered and judged, like a level (generate -> judge), on
fresh confirmation queries: the seeds after the validation ones (``drpo.core.plan``), their aspects
selected look by look. The rule's test (``drpo.core.racing``, ``drpo.core.sequential``) looks at
the paired differences after each block of queries: ``race`` every 8 queries up to C, stopping
early when P_top clearly beats P (pass) or is level with or behind it (futility); ``validation``
once, at C. P* = P_top if the test passes, else P. The fresh queries play no part in picking
P_top and the boundaries spend 5% in all, so a P_top no better than P passes with probability at
most 5%: P(P* worse than P) <= 0.05, whatever the candidates.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.context import Context
from drpo.core.intervals import mean_ci
from drpo.core.plan import confirm_count, confirmation_queries
from drpo.core.records import read_plan, thread_of
from drpo.core.sequential import SequentialTest, paired, t_statistic
from drpo.core.state import DRPOState, config_of
from nodes.rounds import scoring_round
from nodes.validate import TRACK, decided, merge_rewards, selection_of


async def _test(state: DRPOState, runtime: Runtime[Context]) -> tuple[SequentialTest, list[str]]:
    config = config_of(state["config"])
    seeds = await read_plan(runtime.store, thread_of(runtime))
    planned = confirmation_queries(config, seeds)
    rule = selection_of(config, confirm_count(config, len(seeds)))
    return rule.confirmation(len(planned)), planned


async def prepare_confirmation(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    test, planned = await _test(state, runtime)
    looks = state.get("looks") or {}
    k = looks.get("look", 0)
    queries = planned[(test.looks[k - 1] if k else 0) : test.looks[k]]
    frontier = [entry["candidate"] for entry in state["confirm_candidates"]]
    scoring = await scoring_round(runtime, config, TRACK, queries, frontier, up_front=False)
    return {"looks": {"look": k, "rewards": looks.get("rewards") or {}}, **scoring}


async def confirm_prompt(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    test, planned = await _test(state, runtime)
    initial, top = state["confirm_candidates"]
    ids = [initial["candidate"]["id"], top["candidate"]["id"]]
    looks = state.get("looks") or {}
    rewards = merge_rewards(state, looks.get("rewards") or {}, ids)
    p, p_top = rewards[ids[0]], rewards[ids[1]]
    diffs = paired(p_top, p)
    bounds = test.t_boundaries()
    k = test.looks.index(len(diffs))
    decision = test.decide(diffs, bounds)
    if decision == "continue":  # the next look: router -> prepare_confirmation
        return {
            "looks": {"look": k + 1, "rewards": rewards},
            "evaluations": Overwrite([]),
            "frontier": [],
        }
    significant = decision == "pass"
    validation = state["validation"]
    confirmation = {
        "queries": planned[: len(diffs)],
        "planned": len(planned),
        "looks": [
            {"n": n, "t_bound": round(b, 4), "t": _rounded(t_statistic(diffs[:n]))}
            for n, b in zip(test.looks[: k + 1], bounds, strict=False)
        ],
        "spending": test.spending if len(test.looks) > 1 else None,
        "initial": {**mean_ci(p), "rewards": p},
        "top": {"source": validation["top"]["source"], **mean_ci(p_top), "rewards": p_top},
        "difference": mean_ci(diffs),
        "significant": significant,
        "stopped": "success" if significant else ("futility" if k < len(test.looks) - 1 else "end"),
        "alpha": test.alpha,
    }
    chosen, entry = (validation["top"], top) if significant else (validation["initial"], initial)
    rule = "confirmed" if significant else "not-confirmed"
    final = {**validation, "confirmation": confirmation}
    return {
        **decided(final, chosen, entry["candidate"]["text"], significant, rule),
        "confirm_candidates": [],
        "looks": {},
        "evaluations": Overwrite([]),
        "frontier": [],
    }


def _rounded(t: float | None) -> float | None:
    return None if t is None else round(t, 4)
