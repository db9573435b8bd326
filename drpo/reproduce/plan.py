"""The plan of one paper table: the optimize runs it needs (with deterministic ids, so a re-run
finds them, and the run whose optimized ICL set each reuses) and the rows it evaluates.

  table1  base / URIAL / DRPO for the base model (+ base / URIAL of --tuned)   one run
  table3  DRPO and its pack ablations (no ICL, basic prompt)                   one run
  table4  beam / greedy / Monte Carlo search on one optimized ICL set          three runs
  table5  dynamic or static reward per stage (four combinations)               four runs
  fig4    DRPO with K = 0..5 retrieved ICL examples                            one run

A run that reuses an ICL set (``icl_from``) starts after the run that optimized it finished:
table4's greedy and Monte Carlo runs take the beam run's set, table5's runs share one set per
ICL reward."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from drpo.core.config import RunConfig, overridden
from drpo.core.context import ROLES
from drpo.core.data import load_icl
from drpo.core.plan import ConfigError, checked_config

TABLES = ("table1", "table3", "table4", "table5", "fig4")
FIG4_K = 5  # the paper's sweep: K = 0..5
# optimize flags passed through to every run: (flag attribute, config section, key)
STAGE2_FLAGS = (
    ("W", "W"),
    ("M", "M"),
    ("D", "D"),
    ("K", "K"),
    ("B", "B"),
    ("seeds", "seeds"),
    ("select", "select"),
    ("validation", "validation"),
    ("confirm", "confirm"),
)
STAGE1_FLAGS = (("icl_W", "W"), ("icl_M", "M"), ("icl_D", "D"), ("icl", "n"))


class PlanError(ValueError):
    """A table that cannot be planned as asked (one line, exit 2)."""


@dataclass
class PlannedRun:
    id: str
    row: str  # the table row it makes, e.g. "greedy"
    config: RunConfig
    icl_from: str | None = None  # the run whose optimized ICL set it reuses (runs after it)


@dataclass
class Row:
    key: str  # unique in the table, e.g. "drpo:greedy" or "tuned:urial"
    label: str  # as the paper names the row
    method: str  # the evals/methods.py name
    run: str | None = None  # the run whose pack the method uses
    model: str = "base"  # "base": the optimized base model answers; "tuned": --tuned does


@dataclass
class TablePlan:
    table: str
    title: str
    models: dict[str, str]  # role -> spec (the optimize runs')
    runs: list[PlannedRun]
    rows: list[Row]
    baseline: str  # the key of the row every other row is compared with, paired
    tuned: str | None = None
    notes: list[str] = field(default_factory=list)

    def run(self, run_id: str) -> PlannedRun:
        return next(r for r in self.runs if r.id == run_id)


def base_config(flags: dict[str, Any]) -> RunConfig:
    """The runs' shared config from the small-run flags (None: the paper's default)."""
    stage2 = {key: flags.get(name) for name, key in STAGE2_FLAGS}
    stage1 = {key: flags.get(name) for name, key in STAGE1_FLAGS}
    data = overridden({}, stage2, stage1, seed=flags.get("seed"))
    try:
        return checked_config(data)
    except ConfigError as exc:
        raise PlanError(str(exc)) from None


def _digest(table: str, models: dict[str, str], config: RunConfig) -> str:
    text = json.dumps([table, models, config.model_dump()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _variant(config: RunConfig, **top: Any) -> RunConfig:
    """``config`` with top-level fields and per-stage rewards replaced."""
    data = config.model_dump()
    icl_reward = top.pop("icl_reward", None)
    stage2 = {"reward": top.pop("prompt_reward", None), "W": top.pop("W", None)}
    data = overridden(data, stage2, {"reward": icl_reward}, **top)
    return RunConfig.model_validate(data)


def plan_table(
    table: str, models: dict[str, str], config: RunConfig, tuned: str | None = None
) -> TablePlan:
    """The runs and rows of ``table`` for these models and this shared config."""
    if table not in TABLES:
        raise PlanError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    missing = [role for role in ROLES if not models.get(role)]
    if missing:
        raise PlanError(
            f"{table} needs a model for every role: give --models SPEC, or --"
            + ", --".join(missing)
        )
    if tuned and table != "table1":
        raise PlanError(f"--tuned is for table1 (the tuned model's rows); {table} has none")
    h = _digest(table, models, config)

    def run(row: str, icl_from: PlannedRun | None = None, **changes: Any) -> PlannedRun:
        return PlannedRun(
            f"{table}-{row}-{h}",
            row,
            _variant(config, **changes),
            icl_from.id if icl_from else None,
        )

    plan = TablePlan(table, "", models, [], [], "", tuned)
    if table == "table4":
        beam = run("beam", search="beam")
        plan.runs = [beam, run("greedy", beam, search="greedy", W=1), run("mc", beam, search="mc")]
        labels = {
            "beam": "Beam search (DRPO)",
            "greedy": "Greedy search",
            "mc": "Monte Carlo search",
        }
        plan.title = "Table 4: search algorithm (one optimized ICL set)"
        plan.notes += [
            f"the beam run's optimized ICL set is reused by the others ({beam.id})",
            "greedy search is beam search with W=1",
        ]
    elif table == "table5":
        dynamic = run("dynamic", icl_reward="dynamic", prompt_reward="dynamic")
        static = run("static", icl_reward="static", prompt_reward="static")
        plan.runs = [
            dynamic,
            run("static-prompt", dynamic, icl_reward="dynamic", prompt_reward="static"),
            run("static-icl", static, icl_reward="static", prompt_reward="dynamic"),
            static,
        ]
        labels = {
            "dynamic": "DRPO (dynamic rewards)",
            "static-prompt": "static reward for the system prompt",
            "static-icl": "static reward for the ICL examples",
            "static": "static rewards for both",
        }
        plan.title = "Table 5: dynamic vs static rewarding per stage"
        plan.notes.append("runs with the same ICL reward share one optimized ICL set")
    else:
        labels = {}
        plan.runs = [run("drpo")]
    if labels:
        plan.rows = [Row(f"drpo:{r.row}", labels[r.row], f"drpo:{r.row}", r.id) for r in plan.runs]
    one = plan.runs[0].id
    if table == "table1":
        plan.title = "Table 1: base, URIAL and DRPO"
        plan.rows = [
            Row("base", "Base (basic prompt)", "base"),
            Row("urial", "URIAL", "urial"),
            Row("drpo", "DRPO", "drpo", one),
        ]
        if tuned:
            plan.rows += [
                Row("tuned:base", "Tuned model (basic prompt)", "base", model="tuned"),
                Row("tuned:urial", "Tuned model + URIAL", "urial", model="tuned"),
            ]
    elif table == "table3":
        plan.title = "Table 3: ablations of the alignment pack"
        plan.rows = [
            Row("drpo", "DRPO", "drpo", one),
            Row("drpo-no-icl", "without ICL examples (K=0)", "drpo-no-icl", one),
            Row("drpo-basic-prompt", "basic prompt + optimized ICL", "drpo-basic-prompt", one),
        ]
    elif table == "fig4":
        plan.title = "Figure 4: number of retrieved ICL examples K"
        pool = len(load_icl(config.icl_path)[: config.icl.n])
        top = min(FIG4_K, pool)
        if top < FIG4_K:
            plan.notes.append(f"K stops at {top}: the ICL pool has {pool} examples")
        plan.rows = [Row(f"drpo@K={k}", f"K = {k}", f"drpo@K={k}", one) for k in range(top + 1)]
    plan.baseline = plan.rows[0].key if table != "table1" else "urial"
    return plan


def order(plan: TablePlan) -> list[PlannedRun]:
    """The runs, each after the run whose ICL set it reuses."""
    done: list[PlannedRun] = []
    pending = list(plan.runs)
    while pending:
        ready = [r for r in pending if r.icl_from is None or r.icl_from in {d.id for d in done}]
        if not ready:
            raise PlanError("the plan's runs depend on each other in a circle")
        done += ready
        pending = [r for r in pending if r not in ready]
    return done
