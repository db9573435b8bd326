"""Validation selection of P* (``select="validation"``), after the last level of stage 2.

prepare_validation: the candidates are the initial prompt, each level's best and the final
beam (one text is scored once, under all its sources); the queries are the seeds after those
the levels used (``drpo.core.plan``). Each candidate is answered by the base model with ICL
retrieval and judged on every validation query, like a level (generate -> judge).
choose_prompt (stage A): P_top = the highest validation mean (ties go to the earlier source, the
initial prompt first). With ``gate="significant"`` (default) P_top must then beat the initial
prompt P on fresh confirmation queries (stage B, nodes/confirm.py), unless P_top is P. Without
confirmation queries (``confirm=0``, or no seeds left) the gate falls back to one stage: P* = the
highest mean among the candidates whose paired difference to P on the validation queries is
significantly above 0 (one-sided t test at 5%), else P. With ``gate="none"``, P* = P_top.
Why two stages: the best of several noisy means is favoured by luck (the winner's curse); tested
on the queries that chose it, it passes too often. Measured in a simulated world
(benchmarks/selection_noise.py, docs/selection-noise.md): the plain maximum returned a prompt truly
worse than P in about 4 runs in 10 when most rewrites hurt, the one-stage gate in up to 7 in 100.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.config import Context
from drpo.core.plan import confirm_count, validation_queries
from drpo.core.records import read_levels, read_plan, require_store, thread_of
from drpo.core.state import Candidate, DRPOState, config_of
from drpo.core.stats import better, mean_ci
from nodes.begin_stage import root_id
from nodes.prepare_level import retrieve_context
from nodes.select_aspects import lookup_aspects

TRACK = "system_prompt"


def _norm(text: str) -> str:
    return " ".join(text.split())


async def prepare_validation(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    queries = validation_queries(config, await read_plan(runtime.store, thread_of(runtime)))
    initial: Candidate = {
        "id": root_id(TRACK),
        "track": TRACK,
        "level": 0,
        "parent": None,
        "text": config.system_prompt.initial_prompt,
        "analysis": "",
        "thought": "",
    }
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
        entry = merged.setdefault(_norm(cand["text"]), {"sources": [], "candidate": cand})
        entry["sources"].append(source)
    aspects, calls = await lookup_aspects(runtime, config, TRACK, queries)
    context = await retrieve_context(
        state["icl_examples"], queries, config.system_prompt.K, runtime
    )
    candidates = list(merged.values())
    return {
        "validation_candidates": candidates,
        "level_queries": queries,
        "level_aspects": aspects,
        "icl_context": context,
        "frontier": [c["candidate"] for c in candidates],
        "evaluations": Overwrite([]),
        "calls": calls,
    }


def _candidate(row: dict[str, Any], level: int) -> Candidate:
    return {
        "id": row["id"],
        "track": TRACK,
        "level": level,
        "parent": row["parent"],
        "text": row["text"],
        "analysis": "",
        "thought": "",
    }


async def choose_prompt(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = config_of(state["config"])
    queries = state["level_queries"]
    rewards: dict[str, dict[str, float]] = defaultdict(dict)
    for ev in state.get("evaluations", []):
        rewards[ev["candidate"]["id"]][ev["query"]] = ev["reward"]
    rows: list[dict[str, Any]] = []
    for entry in state["validation_candidates"]:
        cid = entry["candidate"]["id"]
        values = [rewards[cid][q] for q in queries]
        rows.append({"entry": entry, "values": values, **mean_ci(values)})
    initial = rows[0]  # the initial prompt is the first candidate
    top = max(rows, key=lambda r: r["mean"])  # max keeps the first of equal means
    gate = config.system_prompt.gate
    seeds = await read_plan(runtime.store, thread_of(runtime))
    confirm = confirm_count(config, len(seeds))
    validation = {
        "queries": queries,
        "candidates": [_public(r) for r in rows],
        "initial": _public(initial),
        "top": _public(top),
        "gate": gate,
        "confirmation": None,
    }
    update: dict[str, Any] = {"evaluations": Overwrite([]), "frontier": []}
    if gate == "significant" and confirm > 0 and top is not initial:  # stage B: nodes/confirm.py
        entries = [initial["entry"], top["entry"]]
        return {**update, "validation": validation, "confirm_candidates": entries}
    notes = list(state.get("notes", []))
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
    """The final validation block and P*: ``chosen`` is a public row of the validation stage."""
    initial = validation["initial"]["rewards"]
    diffs = [c - i for c, i in zip(chosen["rewards"], initial, strict=True)]
    final = {
        **validation,
        "chosen": {**chosen, "text": text},
        "difference": mean_ci(diffs),
        "significant": significant,
        "rule": rule,
    }
    return {"validation": final, "best_system_prompt": text, "best_reward": chosen["mean"]}


def _diffs(row: dict[str, Any], initial: dict[str, Any]) -> list[float]:
    return [c - i for c, i in zip(row["values"], initial["values"], strict=True)]


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
