"""Command-line flags for concurrency, the LLM-call cache, budgets (calls, tokens, dollars),
prices and structured output (optimize and resume)."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from drpo.cli.icl_from import resolve_icl_from
from drpo.core.config import RunConfig
from drpo.core.context import Context, described
from drpo.core.data import load_icl
from drpo.core.limits import (
    INT64_MAX,
    MAX_CONCURRENCY,
    MAX_RPS,
    MAX_USD,
    check_examples,
    check_limits,
)
from drpo.core.racing import SELECTIONS
from drpo.llm.backends.methods import parse_structured
from drpo.llm.budget_plan import Plan, least_budget, plans_spend
from drpo.llm.cost import phase_calls
from drpo.llm.estimate import estimate, format_estimate, format_phases, phase_estimate
from drpo.llm.prices import parse_price, role_prices

EXIT_BUDGET = 3  # the run stopped at its budget; `drpo resume` continues it
EXIT_STOPPED = 4  # the run stopped on request (SIGINT/SIGTERM, STOP file); resumable
# `optimize --dry-run --icl-from X`: the reused ICL set, read by apply_flags (which sees the
# flags) for the dry_run that follows it in the same command
_REUSED: ContextVar[dict[str, Any] | None] = ContextVar("drpo_dry_run_icl_from", default=None)


def add_flags(optimize: argparse.ArgumentParser, resume: argparse.ArgumentParser) -> None:
    optimize.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expected LLM calls, tokens and dollars per role and exit; calls no model",
    )
    optimize.add_argument(
        "--select-budget",
        help="the most calls the selection may make: N calls, or a fraction of the search's "
        "calls (0.2); the race runs on as many validation queries as that affords",
    )
    optimize.add_argument(
        "--patience",
        type=int,
        help="stop the search after N checks without a better prompt (every 2nd level's best "
        "against the best so far on 4 validation queries; default: search every level)",
    )
    for parser in (optimize, resume):
        parser.add_argument(
            "--llm-cache",
            help=described("llm_cache"),
        )
        parser.add_argument("--max-calls", type=int, help=described("max_calls"))
        parser.add_argument("--max-tokens", type=int, help=described("max_tokens"))
        parser.add_argument(
            "--max-usd",
            type=float,
            help=described("max_usd"),
        )
        parser.add_argument(
            "--price",
            action="append",
            default=[],
            metavar="ROLE=IN/OUT",
            help="dollars per million input/output tokens of a role's model (e.g. judge=2.5/10)",
        )
        parser.add_argument(
            "--structured",
            action="append",
            default=[],
            metavar="ROLE=METHOD",
            help=described("structured") + ", e.g. judge=tools",
        )
        parser.add_argument("--max-concurrency", type=int, help=described("max_concurrency"))
        parser.add_argument("--rps", type=float, help=described("requests_per_second"))


def apply_flags(
    args: argparse.Namespace, context: Context, config: RunConfig | None = None
) -> None:
    """Set the context's limits from the flags given (a resume keeps the others); for a new run
    (``config``), a budget must afford one stage-2 level, the selection and the confirmation."""
    for flag, high in (
        ("max_calls", INT64_MAX),
        ("max_tokens", INT64_MAX),
        ("max_concurrency", MAX_CONCURRENCY),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            if not 1 <= value <= high:
                raise ValueError(
                    f"--{flag.replace('_', '-')} must be from 1 to {high}, got {value}"
                )
            setattr(context, flag, value)
    rps = getattr(args, "rps", None)
    if rps is not None:
        if not 0 < rps <= MAX_RPS:  # NaN fails too
            raise ValueError(f"--rps must be positive (at most {MAX_RPS:g}), got {rps}")
        context.requests_per_second = rps
    if cache := getattr(args, "llm_cache", None):
        context.llm_cache = cache
    for item in getattr(args, "price", None) or []:
        role, given = parse_price(item)
        context.prices = {**context.prices, role: list(given)}
    context.structured = {
        **context.structured,
        **parse_structured(getattr(args, "structured", None) or []),
    }
    usd = getattr(args, "max_usd", None)
    if usd is not None:
        if not 0 < usd <= MAX_USD:  # NaN and inf fail too
            raise ValueError(f"--max-usd must be positive (at most {MAX_USD:g}), got {usd:g}")
        context.max_usd = usd
    check_limits(context)  # also the values a resumed run.json holds
    if context.max_usd is not None:
        specs = context.specs()
        for role, price in role_prices(specs, context.prices).items():
            if price is None:
                raise ValueError(
                    f"--max-usd needs a price for every role; the {role} model {specs[role]!r} "
                    f"has none: give --price {role}=IN/OUT (dollars per million tokens)"
                )
    if config is not None:
        if (asked := getattr(args, "select_budget", None)) is not None:
            config.system_prompt.select_budget = select_budget(asked, config, context)
        check_budget(config, context)
        _REUSED.set(_dry_run_icl(args, config))


def _dry_run_icl(args: argparse.Namespace, config: RunConfig) -> dict[str, Any] | None:
    """The ICL set of ``--dry-run --icl-from RUN|PACK``, read and checked as the run would read
    it (apply_flags is not async: read on a thread of its own)."""
    value = getattr(args, "icl_from", None)
    if not (getattr(args, "dry_run", False) and value):
        return None
    run_dir = Path(getattr(args, "run_dir", "runs"))
    with ThreadPoolExecutor(1) as pool:
        reused = pool.submit(asyncio.run, resolve_icl_from(value, run_dir)).result()
    check_examples(reused["examples"], f"--icl-from {value}")
    if len(reused["examples"]) < config.system_prompt.K:
        raise ValueError(f"K={config.system_prompt.K} is larger than the --icl-from set")
    return reused


def select_budget(text: str, config: RunConfig, context: Context) -> int:
    """``--select-budget``: N calls, or a fraction (with a point, at most 1) of the search's
    calls (their upper bound); at least a race of every candidate on one query."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0) or ("." in text and value > 1):
        raise ValueError(
            f"--select-budget {text!r}: expected a number of calls (e.g. 100) or a fraction of "
            "the search's calls above 0 and at most 1 (e.g. 0.2)"
        )
    if config.system_prompt.select == "last-beam":
        raise ValueError("--select-budget needs a selection: not with --select last-beam")
    phases = phase_calls(config, len(load_icl(config.icl_path)[: config.icl.n]))
    calls = round(value * sum(phases["search"].values())) if "." in text else int(value)
    sp = config.search_stage()
    candidates = sp.D + sp.W
    least = SELECTIONS[config.system_prompt.select].race(1).calls(candidates)
    if calls < least:
        raise ValueError(
            f"--select-budget {text} ({calls} calls) is too small: racing up to {candidates} "
            f"prompts on one validation query needs {least} calls; give at least that"
        )
    if context.max_calls is not None and calls > context.max_calls:
        raise ValueError(
            f"--select-budget {text} ({calls} calls) is larger than the run's budget "
            f"(--max-calls {context.max_calls})"
        )
    return calls


def check_budget(config: RunConfig, context: Context) -> None:
    """A dollar budget too small to search one stage-2 level, select and confirm: one line
    naming the least that works (drpo.llm.budget_plan); a call budget that small is the hard
    cap it always was (the run stops there, resumable), said on stderr."""
    plan = Plan(context.max_calls, context.max_usd, role_prices(context.specs(), context.prices))
    if not plan.active or not plans_spend(config, None):
        return  # nothing to reserve: the caps stop the run where they are reached
    icl = load_icl(config.icl_path)[: config.icl.n]
    least = least_budget(config, icl, None)
    if plan.max_calls is not None and plan.max_calls < least["calls"]:
        print(
            f"note: --max-calls {plan.max_calls} is below the {least['calls']} calls that one "
            "stage-2 level, the selection and the confirmation may need: the search may end "
            "before a rewrite is validated (P* = the initial prompt), or the run stops at the "
            "cap (`drpo resume` continues it)",
            file=sys.stderr,
        )
    usd = plan.usd(config, icl, least["by_role"])
    if plan.max_usd is not None and plan.max_usd < usd:
        raise ValueError(
            f"--max-usd {plan.max_usd:g} is too small: one stage-2 level, the selection and the "
            f"confirmation may cost up to ${usd:.2f}; give at least that"
        )


def dry_run(
    config: RunConfig, context: Context | None = None, reused: dict[str, Any] | None = None
) -> str:
    """The estimate of a run; ``reused``: the ICL set of --icl-from (``resolve_icl_from``; by
    default the one apply_flags read), whose run skips stage 1."""
    reused = reused or _REUSED.get()
    sp = config.system_prompt
    if reused:
        icl = reused["examples"]
        where = reused.get("run_id") or reused.get("pack")
        stage1 = f"ICL stage skipped: {len(icl)} optimized examples from {where} (--icl-from)"
    else:
        icl = load_icl(config.icl_path)[: config.icl.n]
        stage1 = (
            f"ICL stage W={config.icl.W} M={config.icl.M} D={config.icl.D} on {len(icl)} examples"
        )
    head = (
        f"dry run (no model is called): {stage1}; system prompt W={sp.W} M={sp.M} D={sp.D} B={sp.B}"
    )
    fresh = not reused
    phases = format_phases(phase_estimate(config, icl, context, fresh), sp.select)
    return head + "\n" + format_estimate(estimate(config, icl, context, fresh)) + "\n" + phases


def print_usage(result: dict[str, Any]) -> None:
    usage: dict[str, dict[str, int]] = result.get("usage") or {}
    prices: dict[str, Any] = result.get("prices") or {}
    if usage:
        rows = ", ".join(
            f"{role} {row['calls']} ({row['cache_hits']} hits, "
            f"{row['input_tokens']}+{row['output_tokens']} tokens"
            + (f", ${row.get('micro_usd', 0) / 1e6:.4f})" if prices.get(role) else ")")
            for role, row in usage.items()
        )
        print(f"model calls per role: {rows}", file=sys.stdout)
    if (spent := result.get("spent_usd")) is not None:
        unpriced = [role for role, price in prices.items() if price is None]
        note = f" (no price for: {', '.join(unpriced)}; see --price)" if unpriced else ""
        print(f"spent: ${spent:.4f}{note}", file=sys.stdout)
    if methods := result.get("structured_output"):
        shown = ", ".join(f"{spec} {method}" for spec, method in sorted(methods.items()))
        print(f"structured output per model: {shown}", file=sys.stdout)
    if errors := result.get("provider_errors"):
        shown = ", ".join(f"{kind} x{n}" for kind, n in sorted(errors.items()))
        print(f"provider errors (retried or re-sampled): {shown}", file=sys.stdout)
