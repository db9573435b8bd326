"""Validation selection of P* (``select="validation"``), after the last level of stage 2.

prepare_validation: the candidates are the initial prompt, each level's best and the final
beam (one text is scored once, under all its sources); the queries are the seeds after those
the levels used (``drpo.core.plan``). Each candidate is answered by the base model with ICL
retrieval and judged on every validation query, like a level (generate -> judge).
choose_prompt: with ``gate="significant"`` (default), P* = the highest mean among the candidates
whose paired difference to the initial prompt is significantly above 0 (one-sided t test at 5%),
else the initial prompt; with ``gate="none"``, the highest mean. Ties go to the earlier source
(the initial prompt first). 95% CIs and the paired difference to the initial prompt are kept.
Why the gate: picking the best of several noisy means favours a lucky candidate; measured in a
simulated world (benchmarks/selection_noise.py), the plain maximum returned a prompt truly worse
than the initial one in about 4 runs in 10 when most rewrites hurt.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from drpo.core.config import Context, RunConfig
from drpo.core.plan import validation_queries
from drpo.core.records import read_levels, read_plan, require_store, thread_of
from drpo.core.state import Candidate, DRPOState
from drpo.core.stats import better, mean_ci
from nodes.begin_stage import root_id
from nodes.prepare_level import retrieve_context
from nodes.select_aspects import lookup_aspects

TRACK = "system_prompt"


def _norm(text: str) -> str:
    return " ".join(text.split())


async def prepare_validation(state: DRPOState, runtime: Runtime[Context]) -> dict[str, Any]:
    config = RunConfig.model_validate(state["config"])
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


async def choose_prompt(state: DRPOState) -> dict[str, Any]:
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
    gate = RunConfig.model_validate(state["config"]).system_prompt.gate
    eligible = [rows[0]] + [
        r
        for r in rows[1:]
        if gate == "none"
        or better([c - i for c, i in zip(r["values"], initial["values"], strict=True)])
    ]
    chosen = max(eligible, key=lambda r: r["mean"])  # max keeps the first of equal means
    diffs = [c - i for c, i in zip(chosen["values"], initial["values"], strict=True)]
    difference = mean_ci(diffs)
    validation = {
        "queries": queries,
        "candidates": [_public(r) for r in rows],
        "initial": _public(initial),
        "chosen": {**_public(chosen), "text": chosen["entry"]["candidate"]["text"]},
        "difference": difference,
        "significant": chosen is not initial and better(diffs),
        "gate": gate,
    }
    return {
        "validation": validation,
        "best_system_prompt": chosen["entry"]["candidate"]["text"],
        "best_reward": chosen["mean"],
        "evaluations": Overwrite([]),
        "frontier": [],
    }


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
