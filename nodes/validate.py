"""Validation selection of P* (``select`` race or validation), after the last level of stage 2.

prepare_validation: the candidates are the initial prompt, each level's best and the final
beam (one text is scored once, under all its sources); the queries are the seeds after those
the levels used (``drpo.core.plan``). The selection rule (``drpo.core.racing``) splits them into
rungs: each rung, the candidates still in the race are answered by the base model with ICL
retrieval and judged on the rung's queries, like a level (generate -> judge), and choose_prompt
keeps the best of them for the next rung (``race``: the best third; ``validation``: one rung of
every query). When one is left or the queries run out, P_top is the best mean (ties go to the
earlier source, the initial prompt first). With ``gate="significant"`` (default) P_top must
then beat the initial prompt P on fresh confirmation queries (nodes/confirm.py), unless P_top is
P. Without confirmation queries (``confirm=0``, or no seeds left) every candidate runs every
validation query and the gate falls back to one stage: P* = the highest mean among the
candidates whose paired difference to P is significantly above 0 (one-sided t test at 5%), else
P. With ``gate="none"``, P* = P_top.
Why two stages: the best of several noisy means is favoured by luck (the winner's curse); tested
on the queries that chose it, it passes too often (docs/selection-noise.md).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.intervals import better, mean_ci
from drpo.core.plan import confirm_count, validation_queries
from drpo.core.racing import SELECTIONS, Selection
from drpo.core.records import read_levels, read_plan, require_store, thread_of
from drpo.core.sequential import paired
from drpo.core.state import Candidate, DRPOState, Stage, config_of, make_candidate, text_key
from nodes.begin_stage import root_id
from nodes.rounds import scoring_round

TRACK: Stage = "system_prompt"  # stage 2's one track, named after its stage


def selection_of(config: RunConfig, confirm: int) -> Selection:
    """The rule of the run; without confirmation, one rung of every query (the one-stage gate
    compares every candidate with P on the same queries)."""
    if confirm == 0 or config.system_prompt.gate != "significant":
        return SELECTIONS["validation"]
    return SELECTIONS[config.system_prompt.select]


async def prepare_validation(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    seeds = await read_plan(runtime.store, thread_of(runtime))
    planned = validation_queries(config, seeds)
    update: dict[str, Any] = {}
    race = state.get("race") or {}
    if not race.get("alive"):  # the first rung: every distinct candidate
        candidates = await _candidates(state, runtime, config)
        race = {"rung": 0, "alive": [c["candidate"]["id"] for c in candidates], "rewards": {}}
        update = {"validation_candidates": candidates, "race": race}
    else:
        candidates = state["validation_candidates"]
    rule = selection_of(config, confirm_count(config, len(seeds)))
    budget = config.system_prompt.select_budget
    rungs = rule.race(len(planned), len(candidates), budget).rungs
    rung = race["rung"]
    queries = planned[(rungs[rung - 1] if rung else 0) : rungs[rung]]
    alive = set(race["alive"])
    frontier = [c["candidate"] for c in candidates if c["candidate"]["id"] in alive]
    scoring = await scoring_round(runtime, config, TRACK, queries, frontier, up_front=False)
    return {**update, **scoring}


async def _candidates(
    state: DRPOState, runtime: Runtime[Context], config: RunConfig
) -> list[dict[str, Any]]:
    initial = _candidate(
        {"id": root_id(TRACK), "parent": None, "text": config.system_prompt.initial_prompt}, 0
    )
    sources: list[tuple[str, Candidate]] = [("initial", initial)]
    records = (await read_levels(require_store(runtime.store), thread_of(runtime)))[TRACK]
    for record in records:
        if record["candidates"]:
            row = record["candidates"][0]
            sources.append((f"level:{record['level']}", _candidate(row, record["level"])))
    for j, member in enumerate(state["beam"][TRACK]):
        sources.append((f"final-beam:{j}", member["candidate"]))
    merged: dict[str, dict[str, Any]] = {}
    for source, cand in sources:
        entry = merged.setdefault(text_key(cand["text"]), {"sources": [], "candidate": cand})
        entry["sources"].append(source)
    return list(merged.values())


def _candidate(row: dict[str, Any], level: int) -> Candidate:
    return make_candidate(row["id"], TRACK, level, row["parent"], row["text"])


def merge_rewards(
    state: DRPOState, rewards: dict[str, list[float]], ids: list[str]
) -> dict[str, list[float]]:
    """``rewards`` with this round's verdicts appended, in the round's query order."""
    got: dict[str, dict[str, float]] = {cid: {} for cid in ids}
    for ev in state.get("evaluations", []):
        got[ev["candidate"]["id"]][ev["query"]] = ev["reward"]
    out = {cid: list(values) for cid, values in rewards.items()}
    for cid in ids:
        out[cid] = out.get(cid, []) + [got[cid][q] for q in state["level_queries"]]
    return out


async def choose_prompt(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    seeds = await read_plan(runtime.store, thread_of(runtime))
    confirm = confirm_count(config, len(seeds))
    race = state["race"]
    ids = [c["candidate"]["id"] for c in state["validation_candidates"]]
    alive = [cid for cid in ids if cid in set(race["alive"])]
    rewards = merge_rewards(state, race["rewards"], alive)
    planned = validation_queries(config, seeds)
    budget, n = config.system_prompt.select_budget, len(state["validation_candidates"])
    rules = selection_of(config, confirm).race(len(planned), n, budget)
    survivors = rules.survivors(race["rung"], rewards, alive)
    update: dict[str, Any] = {"evaluations": Overwrite([]), "frontier": []}
    if len(survivors) > 1:  # the next rung: router -> prepare_validation
        next_race = {"rung": race["rung"] + 1, "alive": survivors, "rewards": rewards}
        return {**update, "race": next_race}
    rows: list[dict[str, Any]] = [
        {"entry": entry, "values": rewards[cid], **mean_ci(rewards[cid])}
        for entry, cid in zip(state["validation_candidates"], ids, strict=True)
    ]
    by_id = dict(zip(ids, rows, strict=True))
    initial, top = rows[0], by_id[survivors[0]]  # the initial prompt is the first candidate
    gate = config.system_prompt.gate
    validation = {
        "queries": planned[: rules.rungs[race["rung"]]],  # those the last rung reached
        "select": selection_of(config, confirm).name,
        "rungs": list(rules.rungs[: race["rung"] + 1]),
        "candidates": [_public(r) for r in rows],
        "initial": _public(initial),
        "top": _public(top),
        "gate": gate,
        "confirmation": None,
    }
    update["race"] = {**race, "alive": [], "rewards": {}}
    marks = state.get("phase_marks") or {}
    update["phase_marks"] = {**marks, "selection": dict(state.get("calls", {}))}
    if gate == "significant" and confirm > 0 and top is not initial:  # nodes/confirm.py
        entries = [initial["entry"], top["entry"]]
        return {**update, "validation": validation, "confirm_candidates": entries}
    notes: list[str] = []  # added to the run's (a reducer)
    if gate == "none":
        chosen, rule = top, "highest-mean"
    elif confirm > 0:
        chosen, rule = initial, "top-is-initial"
    else:  # one stage: the gate on the validation queries that chose P*
        eligible = [initial] + [r for r in rows[1:] if better(_diffs(r, initial))]
        chosen, rule = max(eligible, key=lambda r: r["mean"]), "validation-gate"
        if config.system_prompt.confirm is None:
            notes.append(NO_CONFIRMATION)
    significant = chosen is not initial and better(_diffs(chosen, initial))
    text = chosen["entry"]["candidate"]["text"]
    final = decided(validation, _public(chosen), text, significant, rule)
    return {**update, **final, "notes": notes}


NO_CONFIRMATION = (
    "no seed queries are left to confirm P* on fresh queries: it was tested on the validation "
    "queries that chose it, which favours a lucky candidate; use --seeds to add some"
)


def decided(
    validation: dict[str, Any], chosen: dict[str, Any], text: str, significant: bool, rule: str
) -> dict[str, Any]:
    """The final validation block and P*: ``chosen`` is a public row of the validation stage.
    Its difference to P is paired on the validation queries both were scored on."""
    initial = validation["initial"]["rewards"]
    diffs = [c - i for c, i in zip(chosen["rewards"], initial, strict=False)]
    final = {
        **validation,
        "chosen": {**chosen, "text": text},
        "difference": mean_ci(diffs) if diffs else None,
        "significant": significant,
        "rule": rule,
    }
    return {"validation": final, "best_system_prompt": text, "best_reward": chosen["mean"]}


def _diffs(row: dict[str, Any], initial: dict[str, Any]) -> list[float]:
    return paired(row["values"], initial["values"])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    sources = row["entry"]["sources"]
    return {
        "source": sources[0],
        "sources": sources,
        "id": row["entry"]["candidate"]["id"],
        "mean": row["mean"],
        "ci95": row["ci95"],
        "rewards": row["values"],
    }
