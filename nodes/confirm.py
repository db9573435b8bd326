"""Confirmation of the best validation prompt (stage B of validation selection, the gate).

Stage A (choose_prompt, nodes/validate.py) picks P_top, the highest validation mean among the
candidates. Its validation scores cannot also test it: picked as the best of several noisy means,
it is favoured by luck. So only P_top and the initial prompt P are answered and judged, like a
level (generate -> judge), on fresh confirmation queries: the seeds after the validation ones
(``drpo.core.plan``), whose aspects load_data selected with every other query. P* = P_top if the
paired one-sided t test at 5% on these queries says it beats P, else P. The fresh queries play no
part in picking P_top, so a P_top no better than P passes with probability at most 5% (the
test's level): P(P* worse than P) <= 0.05, whatever the candidates.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.config import Context
from drpo.core.plan import confirmation_queries
from drpo.core.records import read_plan, thread_of
from drpo.core.state import DRPOState, config_of
from drpo.core.stats import better, mean_ci
from nodes.prepare_level import retrieve_context
from nodes.select_aspects import lookup_aspects
from nodes.validate import TRACK, decided

ALPHA = 0.05  # the level of drpo.core.stats.better


async def prepare_confirmation(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    queries = confirmation_queries(config, await read_plan(runtime.store, thread_of(runtime)))
    aspects, calls = await lookup_aspects(runtime, config, TRACK, queries)
    context = await retrieve_context(
        state["icl_examples"], queries, config.system_prompt.K, runtime
    )
    return {
        "level_queries": queries,
        "level_aspects": aspects,
        "icl_context": context,
        "frontier": [entry["candidate"] for entry in state["confirm_candidates"]],
        "evaluations": Overwrite([]),
        "calls": calls,
    }


async def confirm_prompt(state: DRPOState) -> dict[str, Any]:
    queries = state["level_queries"]
    rewards: dict[str, dict[str, float]] = defaultdict(dict)
    for ev in state.get("evaluations", []):
        rewards[ev["candidate"]["id"]][ev["query"]] = ev["reward"]
    initial, top = state["confirm_candidates"]
    p = [rewards[initial["candidate"]["id"]][q] for q in queries]
    p_top = [rewards[top["candidate"]["id"]][q] for q in queries]
    diffs = [t - i for t, i in zip(p_top, p, strict=True)]
    significant = better(diffs)
    validation = state["validation"]
    confirmation = {
        "queries": queries,
        "initial": {**mean_ci(p), "rewards": p},
        "top": {"source": validation["top"]["source"], **mean_ci(p_top), "rewards": p_top},
        "difference": mean_ci(diffs),
        "significant": significant,
        "alpha": ALPHA,
    }
    chosen, entry = (validation["top"], top) if significant else (validation["initial"], initial)
    rule = "confirmed" if significant else "not-confirmed"
    final = {**validation, "confirmation": confirmation}
    return {
        **decided(final, chosen, entry["candidate"]["text"], significant, rule),
        "confirm_candidates": [],
        "evaluations": Overwrite([]),
        "frontier": [],
    }
