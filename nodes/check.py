"""The search's early stop (``--patience N``, ``drpo.core.racing.Patience``).

prepare_check: after every 2nd stage-2 level (not the last), the level's best (the top of the
beam) and, at the first check, the initial prompt P are answered and judged, like a level
(generate -> judge), on the first 4 validation queries (in the planned seed order, so resume and
fork repeat the check exactly). check_progress: a higher mean than the best so far makes the
level's best the best so far; N checks in a row without one end the search (``stall``), and the
run selects and confirms among the prompts it has, as after the last level. The checks only
decide when to stop: the race still sees every level's best, and P* must still pass the
confirmation on fresh queries. The best so far is marked with its judge: after a switch of
judge (a resume or fork with another --judge or --judge-node) it is judged again on the check's
queries, so a check never compares rewards of two judges.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.context import Context
from drpo.core.plan import validation_queries
from drpo.core.provenance import judge_label
from drpo.core.racing import patience_of
from drpo.core.records import read_plan, thread_of
from drpo.core.state import Candidate, DRPOState, config_of, make_candidate, text_key
from nodes.begin_stage import root_id
from nodes.rounds import scoring_round
from nodes.stages import spec_of
from nodes.validate import TRACK, merge_rewards


def check_due(state: DRPOState) -> bool:
    """Whether the stage-2 level just closed is checked for progress."""
    config = config_of(state["config"])
    rule = patience_of(config)
    closed = state.get("closed")
    if rule is None or not spec_of(state).searches_prompts or not closed:
        return False
    checks = (state.get("progress") or {}).get("checks") or []
    if checks and checks[-1]["level"] >= closed["level"]:
        return False  # checked already: a fork or a resume from the checkpoint after the check
    return closed["stage"] == state["stage"] and rule.due(closed["level"], config.search_stage().D)


async def prepare_check(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    rule = patience_of(config)
    assert rule is not None  # routed here only with --patience
    seeds = await read_plan(runtime.store, thread_of(runtime))
    queries = validation_queries(config, seeds)[: rule.queries]
    progress = dict(state.get("progress") or {})
    if "best" not in progress:  # the first check: the initial prompt is the best so far
        p = config.system_prompt.initial_prompt
        initial = make_candidate(root_id(TRACK), TRACK, 0, None, p)
        progress = {"best": {"candidate": initial, "rewards": []}, "misses": 0, "checks": []}
    judge = judge_label(runtime.context.judge_model, runtime.context.judge_node)
    if progress.get("judge", judge) != judge:  # another judge's rewards: judged again
        progress["best"] = {**progress["best"], "rewards": []}
    top: Candidate = state["beam"][TRACK][0]["candidate"]
    frontier = [top]
    if not progress["best"]["rewards"]:
        frontier.insert(0, progress["best"]["candidate"])
    if text_key(top["text"]) == text_key(progress["best"]["candidate"]["text"]):
        frontier.remove(top)  # the same text: it cannot be better
    scoring = await scoring_round(runtime, config, TRACK, queries, frontier, up_front=False)
    return {"progress": {**progress, "top": top, "pending": True, "judge": judge}, **scoring}


async def check_progress(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    rule = patience_of(config)
    assert rule is not None
    progress = dict(state["progress"])
    best, top = progress["best"], progress.pop("top")
    progress.pop("pending", None)
    update: dict[str, Any] = {"progress": progress, "evaluations": Overwrite([]), "frontier": []}
    if not state.get("level_queries"):  # no validation queries left to check on: no check
        return update
    scored = [c["id"] for c in state.get("frontier", [])]
    rewards = merge_rewards(state, {best["candidate"]["id"]: best["rewards"]}, scored)
    best_rewards = rewards[best["candidate"]["id"]]
    top_rewards = rewards.get(top["id"], best_rewards)  # not scored: the best's own text
    better = fmean(top_rewards) > fmean(best_rewards)
    level = state["closed"]["level"]
    check = {"level": level, "id": top["id"], "mean": fmean(top_rewards),
             "best_id": best["candidate"]["id"], "best_mean": fmean(best_rewards),
             "better": better}  # fmt: skip
    misses = 0 if better else progress["misses"] + 1
    kept = {"candidate": top, "rewards": top_rewards} if better else best
    progress.update(
        best={**kept, "rewards": top_rewards if better else best_rewards},
        misses=misses,
        checks=[*progress["checks"], check],
    )
    if misses >= rule.checks:
        update["stall"] = {
            "level": level,
            "reason": f"{misses} checks in a row (every {rule.every} levels, on "
            f"{rule.queries} validation queries) found no prompt better than "
            f"{best['candidate']['id']} (--patience {rule.checks})",
        }
    return update
