"""`drpo reproduce TABLE`: one of the paper's tables from one command (drpo/reproduce/).

Plans the table's optimize runs (ids derived from the table and its settings, so the same
command run again finds them), executes them concurrently under one concurrency limit and one
budget, evaluates every row on the same items with an eval judge other than the optimizing one,
and writes table.md, table.csv, result.json and paired.png (default RUN_DIR/reproduce/TABLE/).
Killed, it continues on the next run without repeating a finished call. Bad input: one line,
exit 2, nothing written. Exit 3/4/1: a run stopped at the budget / on request / failed (run the
command again to continue)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drpo.core.context import ROLES
from drpo.core.limits import INT64_MAX, MAX_CONCURRENCY, MAX_USD, check_run_dir
from drpo.llm.backends.registry import SpecError, parse_spec
from drpo.llm.prices import parse_price
from drpo.reproduce.plan import STAGE1_FLAGS, STAGE2_FLAGS, TABLES
from drpo.reproduce.sweep import ReproduceError, Settings, dry_run, prepare, reproduce

SMALL_RUN_FLAGS = [name for name, _ in STAGE2_FLAGS + STAGE1_FLAGS] + ["seed"]


def add_parsers(sub: Any) -> None:
    rp = sub.add_parser("reproduce", help="a paper table from one command: " + ", ".join(TABLES))
    rp.add_argument("table", help=" | ".join(TABLES))
    rp.add_argument("--models", help="one model spec for every role of the optimize runs")
    for role in ROLES:
        rp.add_argument(f"--{role}", help=f"model spec of the runs' {role} role")
    rp.add_argument(
        "--eval-judge",
        help="model spec of the judge that grades the table "
        "(another model than the optimizing judge)",
    )
    rp.add_argument("--tuned", help="table1: the tuned model's spec (its base and URIAL rows)")
    rp.add_argument(
        "--allow-self-judge",
        action="store_true",
        help="let the optimizing judge grade the table (self-graded)",
    )
    rp.add_argument("--data", default="dev", help="dev (100 vendored items), hf, or a JSONL path")
    rp.add_argument("--limit", type=int, help="the first N items (by id)")
    rp.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="tasks (model calls) in flight at most, across the runs",
    )
    budget = rp.add_mutually_exclusive_group()
    budget.add_argument("--max-calls", type=int, help="model calls of the whole table")
    budget.add_argument("--max-usd", type=float, help="dollars of the whole table (hard cap)")
    rp.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="ROLE=IN/OUT",
        help="dollars per million tokens of a role (or eval_judge)",
    )
    rp.add_argument("--retries", type=int, default=3, help="attempts per eval judge reply")
    rp.add_argument("--out", type=Path, help="output folder (default RUN_DIR/reproduce/TABLE)")
    rp.add_argument("--run-dir", type=Path, default=Path("runs"))
    rp.add_argument(
        "--server",
        help="a LangGraph server's URL: the runs go there as background runs (one thread each)",
    )
    rp.add_argument(
        "--dry-run",
        action="store_true",
        help="print the calls and dollars of the whole table; write nothing",
    )
    for flag in ("W", "M", "D", "K", "B"):
        rp.add_argument(f"-{flag}", type=int, help=f"every run's stage-2 {flag}")
    for flag in ("W", "M", "D"):
        rp.add_argument(f"--icl-{flag}", type=int, help=f"every run's stage-1 {flag}")
    rp.add_argument("--seeds", type=int, help="use N shuffled seed queries")
    rp.add_argument("--icl", type=int, help="optimize the first N base ICL examples")
    rp.add_argument("--select", choices=["race", "validation", "last-beam"])
    rp.add_argument("--validation", type=int)
    rp.add_argument("--confirm", type=int)
    rp.add_argument("--seed", type=int, help="run seed")
    rp.set_defaults(handler=_reproduce)


def _spec(flag: str, spec: str | None) -> None:
    if spec is not None:
        try:
            parse_spec(spec)
        except SpecError as exc:
            raise ReproduceError(f"--{flag}: {exc}") from exc


def settings(args: argparse.Namespace) -> Settings:
    """The checked flags (one line per error; nothing is written)."""
    if args.table not in TABLES:
        raise ReproduceError(f"unknown table {args.table!r}; choose one of {', '.join(TABLES)}")
    check_run_dir(args.run_dir)
    models = {role: getattr(args, role) or args.models for role in ROLES}
    _spec("models", args.models)
    for role in ROLES:
        _spec(role, getattr(args, role))
    _spec("eval-judge", args.eval_judge)
    _spec("tuned", args.tuned)
    for flag, value, low, high in (
        ("limit", args.limit, 1, INT64_MAX),
        ("concurrency", args.concurrency, 1, MAX_CONCURRENCY),
        ("retries", args.retries, 1, 100),
        ("max-calls", args.max_calls, 1, INT64_MAX),
    ):
        if value is not None and not low <= value <= high:
            raise ReproduceError(f"--{flag} must be from {low} to {high}, got {value}")
    if args.max_usd is not None and not 0 < args.max_usd <= MAX_USD:  # NaN fails too
        raise ReproduceError(
            f"--max-usd must be positive (at most {MAX_USD:g}), got {args.max_usd}"
        )
    prices: dict[str, list[float]] = {}
    for item in args.price:
        role, _, rest = item.partition("=")
        key = "eval_judge" if role == "eval_judge" else None
        got = parse_price(f"judge={rest}" if key else item)
        prices[key or got[0]] = list(got[1])
    if args.server is not None and not args.server.startswith(("http://", "https://")):
        raise ReproduceError(f"--server {args.server!r}: expected an http(s):// URL")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ReproduceError(f"--out {args.out}: not a folder")
    return Settings(
        table=args.table,
        models={k: v for k, v in models.items() if v},
        eval_judge=args.eval_judge,
        run_dir=args.run_dir,
        flags={f: getattr(args, f) for f in SMALL_RUN_FLAGS},
        tuned=args.tuned,
        out=args.out,
        data=args.data,
        limit=args.limit,
        concurrency=args.concurrency,
        max_calls=args.max_calls,
        max_usd=args.max_usd,
        prices=prices,
        retries=args.retries,
        allow_self_judge=args.allow_self_judge,
        server=args.server,
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _reproduce(args: argparse.Namespace) -> int:
    prepared = prepare(settings(args))
    if args.dry_run:
        print(dry_run(prepared))
        return 0
    return await reproduce(prepared, _stderr)
