"""Command-line flags for concurrency, the LLM-call cache, budgets (calls, tokens, dollars),
prices and structured output (optimize and resume)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from drpo.core.config import Context, RunConfig, described
from drpo.core.data import load_icl
from drpo.core.estimate import estimate, format_estimate
from drpo.core.models.methods import parse_structured
from drpo.core.prices import parse_price, role_prices

EXIT_BUDGET = 3  # the run stopped at its budget; `drpo resume` continues it
EXIT_STOPPED = 4  # the run stopped on request (SIGINT/SIGTERM, STOP file); resumable


def add_flags(optimize: argparse.ArgumentParser, resume: argparse.ArgumentParser) -> None:
    optimize.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expected LLM calls, tokens and dollars per role and exit; calls no model",
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


def apply_flags(args: argparse.Namespace, context: Context) -> None:
    """Set the context's limits from the flags given (a resume keeps the others)."""
    for flag in ("max_calls", "max_tokens", "max_concurrency"):
        value = getattr(args, flag, None)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
            setattr(context, flag, value)
    rps = getattr(args, "rps", None)
    if rps is not None:
        if rps <= 0:
            raise ValueError(f"--rps must be positive, got {rps}")
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
        if not usd > 0:
            raise ValueError(f"--max-usd must be positive, got {usd:g}")
        context.max_usd = usd
    if context.max_usd is not None:
        specs = context.specs()
        for role, price in role_prices(specs, context.prices).items():
            if price is None:
                raise ValueError(
                    f"--max-usd needs a price for every role; the {role} model {specs[role]!r} "
                    f"has none: give --price {role}=IN/OUT (dollars per million tokens)"
                )


def dry_run(config: RunConfig, context: Context | None = None) -> str:
    icl = load_icl(config.icl_path)[: config.icl.n]
    sp = config.system_prompt
    head = (
        f"dry run (no model is called): ICL stage W={config.icl.W} M={config.icl.M} "
        f"D={config.icl.D} on {len(icl)} examples; system prompt W={sp.W} M={sp.M} D={sp.D} "
        f"B={sp.B}"
    )
    return head + "\n" + format_estimate(estimate(config, icl, context))


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
