"""`drpo reproduce TABLE`: check everything (nothing is written before), plan the runs, execute
them (drpo/reproduce/run.py), export their packs, evaluate every row on the same items with the
eval judge, and write the table (drpo/reproduce/tables.py)."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drpo.core.config import RunConfig, Sampling
from drpo.core.files import write_atomic
from drpo.llm.estimate import format_estimate
from drpo.llm.prices import Price, role_prices, table_price
from drpo.reproduce.budget import Cost, Pool, eval_estimate, run_estimate, spent
from drpo.reproduce.evaluation import evaluate_rows
from drpo.reproduce.plan import TablePlan, base_config, order, plan_table
from drpo.reproduce.run import Executor, Progress, context_for, outcomes_json
from drpo.reproduce.server import ServerSweep
from drpo.reproduce.tables import assemble, markdown, write
from drpo.runtime.runner import Run
from drpo.serving.pack import export_pack
from evals.benchmark import load_items
from evals.methods import load_pack
from evals.self_judge import self_judge_error

EXIT_CODES = {"budget": 3, "stopped": 4, "failed": 1, "blocked": 1}


class ReproduceError(ValueError):
    """Bad input to `drpo reproduce` (one line, exit 2, nothing written)."""


@dataclass
class Settings:
    table: str
    models: dict[str, str]
    eval_judge: str | None
    run_dir: Path
    flags: dict[str, Any] = field(default_factory=dict)  # small-run flags (-W, -D, --icl, ...)
    tuned: str | None = None
    out: Path | None = None
    data: str = "dev"
    limit: int | None = None
    concurrency: int = 4
    max_calls: int | None = None
    max_usd: float | None = None
    prices: dict[str, list[float]] = field(default_factory=dict)  # role (or eval_judge) -> price
    retries: int = 3
    max_tokens: int = Sampling().base_max_tokens
    judge_max_tokens: int = Sampling().json_max_tokens
    allow_self_judge: bool = False
    server: str | None = None  # a LangGraph server's URL: the runs go there


@dataclass
class Prepared:
    settings: Settings
    plan: TablePlan
    config: RunConfig
    items: list[Any]
    pool: Pool
    eval_rows: dict[str, dict[str, Any]]
    run_rows: dict[str, tuple[Cost, dict[str, dict[str, Any]]]]
    optimizing_judges: list[str]

    @property
    def out(self) -> Path:
        return self.settings.out or self.settings.run_dir / "reproduce" / self.plan.table


def _eval_prices(s: Settings) -> dict[str, Price | None]:
    judge = s.prices.get("eval_judge")
    base = role_prices({"base": s.models.get("base", "")}, s.prices)["base"]
    return {
        "base": base,
        "judge": (judge[0], judge[1]) if judge else table_price(s.eval_judge or ""),
    }


def prepare(s: Settings) -> Prepared:
    """Every check of the table's input; writes nothing."""
    config = base_config(s.flags)
    plan = plan_table(s.table, s.models, config, s.tuned)
    if not s.eval_judge:
        raise ReproduceError(
            f"{s.table} needs --eval-judge SPEC: the judge that grades the "
            "table (a model other than the optimizing judge)"
        )
    if s.server and (s.max_calls is not None or s.max_usd is not None):
        raise ReproduceError(
            "--max-calls/--max-usd are enforced by the local runs' call gate, which a LangGraph "
            "server's runs do not have: give no budget with --server"
        )
    judges = [s.models["judge"]]
    for planned in plan.runs:  # a run resumed with another judge: its history names both
        run = Run(s.run_dir, planned.id)
        if run.exists():
            judges += [row["model"] for row in run.model_history().get("judge", [])]
    if error := self_judge_error(judges, s.eval_judge, s.allow_self_judge):
        raise ReproduceError(error.replace("another --judge", "another --eval-judge"))
    items = load_items(s.data, s.limit)
    if not items:
        raise ReproduceError("no benchmark items selected")
    eval_cost, eval_rows = eval_estimate(
        config,
        len(plan.rows),
        len(items),
        s.retries,
        _eval_prices(s),
        (s.max_tokens, s.judge_max_tokens),
    )
    context = context_for(plan, s.run_dir, {k: v for k, v in s.prices.items() if k != "eval_judge"})
    if s.max_usd is not None:
        specs = {**context.specs(), "eval judge": s.eval_judge}
        prices = {
            **role_prices(context.specs(), context.prices),
            "eval judge": _eval_prices(s)["judge"],
        }
        for role, price in prices.items():
            if price is None:
                flag = "eval_judge" if role == "eval judge" else role
                raise ReproduceError(
                    f"--max-usd needs a price for every model; the {role} model "
                    f"{specs[role]!r} has none: give --price {flag}=IN/OUT"
                )
    run_rows = {r.id: run_estimate(r.config, context, bool(r.icl_from)) for r in plan.runs}
    pool = Pool(
        s.max_calls,
        s.max_usd,
        eval_cost,
        {k: v[0] for k, v in run_rows.items()},
        {r.id: spent(s.run_dir / r.id) for r in plan.runs},
    )
    if why := pool.too_small():
        raise ReproduceError(why)
    return Prepared(s, plan, config, items, pool, eval_rows, run_rows, judges)


def dry_run(p: Prepared) -> str:
    plan, s = p.plan, p.settings
    lines = [
        f"dry run of {plan.table} (no model is called): {len(plan.runs)} run(s), "
        f"{len(plan.rows)} row(s) x {len(p.items)} item(s), eval judge {s.eval_judge}"
    ]
    total: dict[str, dict[str, Any]] = {}
    for planned in order(plan):
        cost, rows = p.run_rows[planned.id]
        source = f", ICL set of {planned.icl_from}" if planned.icl_from else ""
        usd = "?" if cost.usd is None else f"${cost.usd:.2f}"
        done = spent(s.run_dir / planned.id)
        had = f"; {done.calls} made already" if done.calls else ""
        lines.append(f"  run {planned.id} ({planned.row}{source}): {cost.calls} calls, {usd}{had}")
        _add(total, rows)
    ev = p.pool.reserved
    lines.append(
        f"  evaluation: {len(plan.rows)} row(s) x {len(p.items)} item(s): up to "
        f"{ev.calls} calls ({s.retries} judge attempts per answer), "
        + ("?" if ev.usd is None else f"${ev.usd:.2f}")
    )
    _add(total, p.eval_rows)
    lines.append(format_estimate(total))
    if s.max_calls is not None or s.max_usd is not None:
        limit = (
            f"--max-calls {s.max_calls}" if s.max_calls is not None else f"--max-usd {s.max_usd:g}"
        )
        lines.append(
            f"budget {limit} for the whole table: the evaluation's upper bound is set "
            "aside, the runs share the rest in proportion to their estimates"
        )
    return "\n".join(lines)


async def _packs(p: Prepared) -> dict[str, tuple[dict[str, Any], str]]:
    """Each run's alignment pack (`drpo export`), kept in OUT/packs/ (exported outside the run
    dir first: export never writes into one of its folders, and OUT may be one)."""
    packs: dict[str, tuple[dict[str, Any], str]] = {}
    (p.out / "packs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="drpo-packs-") as tmp:
        for planned in p.plan.runs:
            exported = Path(tmp) / f"{planned.id}.json"
            await export_pack(Run(p.settings.run_dir, planned.id, read_only=True), exported)
            path = p.out / "packs" / exported.name
            write_atomic(path, exported.read_text(encoding="utf-8"))
            packs[planned.id] = (load_pack(path), str(path))
    return packs


def _add(total: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> None:
    for role, row in rows.items():
        into = total.setdefault(
            role, {"calls": 0, "paper_a5": 0, "max_output_tokens": 0, "input_tokens": 0, "usd": 0.0}
        )
        for key in ("calls", "paper_a5", "max_output_tokens", "input_tokens"):
            into[key] += row[key]
        into["usd"] = (
            None if into["usd"] is None or row["usd"] is None else into["usd"] + row["usd"]
        )


async def reproduce(p: Prepared, progress: Progress) -> int:
    s, plan = p.settings, p.plan
    server = ServerSweep(plan, s.server, s.concurrency, progress) if s.server else None
    if server:
        await server.check()  # an unreachable server: one line, nothing written
    where = f"on {s.server}" if s.server else f"in {s.run_dir}"
    progress(
        f"reproduce {plan.table}: {len(plan.runs)} run(s) {where}, "
        f"{s.concurrency} task(s) in flight at most"
    )
    if server:
        outcomes = await server.run_all()
    else:
        prices = {k: v for k, v in s.prices.items() if k != "eval_judge"}
        executor = Executor(plan, s.run_dir, p.pool, s.concurrency, prices, progress)
        outcomes = await executor.run_all()
        if executor.stopping and all(
            o.status in ("finished", "skipped") for o in outcomes.values()
        ):
            print(f"drpo: stopped on request ({executor.stopping}) before the evaluation; run the "
                  "same command again to continue", file=sys.stderr)  # fmt: skip
            return EXIT_CODES["stopped"]
    unfinished = [o for o in outcomes.values() if o.status not in ("finished", "skipped")]
    if unfinished:
        for o in unfinished:
            print(f"drpo: run {o.run} {o.status}: {o.detail}", file=sys.stderr)
        why = {o.status for o in unfinished}  # a blocked run waits on one of the others
        code = next(EXIT_CODES[k] for k in ("budget", "stopped", "failed", "blocked") if k in why)
        print(
            f"drpo: {plan.table} is not complete; run the same command again to continue "
            "(finished runs are skipped, the others resume)",
            file=sys.stderr,
        )
        return code
    packs = server.packs(p.out) if server else await _packs(p)
    settings = {**asdict(s), "base": s.models["base"]}
    try:
        results = await evaluate_rows(plan, packs, p.items, settings, s.run_dir, progress)
    except Exception as exc:  # the eval cache keeps what finished
        print(
            f"drpo: evaluation failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            "\nRun the same command again to continue.",
            file=sys.stderr,
        )
        return 1
    meta = {
        "models": plan.models,
        "tuned": plan.tuned,
        "eval_judge": s.eval_judge,
        "optimizing_judges": list(dict.fromkeys(p.optimizing_judges)),
        "self_judge": s.allow_self_judge,
        "n_items": len(p.items),
        "data": s.data,
        "runs": [r.id for r in plan.runs],
        "server": s.server,
        "run_outcomes": outcomes_json(outcomes),
        "notes": plan.notes,
        "budget": {
            "max_calls": s.max_calls,
            "max_usd": s.max_usd,
            "eval_reserved_calls": p.pool.reserved.calls,
        },
    }
    table = assemble(plan, results, meta)
    paths = write(table, p.out)
    print(markdown(table))
    print("wrote " + ", ".join(str(path) for path in paths))
    return 0
