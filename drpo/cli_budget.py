"""Command-line flags for concurrency, the LLM-call cache and budgets (optimize and resume)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from drpo.budget import estimate, format_estimate
from drpo.config import Context, RunConfig
from drpo.data import load_icl

EXIT_BUDGET = 3  # the run stopped at its budget; `drpo resume` continues it


def add_flags(optimize: argparse.ArgumentParser, resume: argparse.ArgumentParser) -> None:
    optimize.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expected LLM calls per role (paper A.5) and exit; calls no model",
    )
    for parser in (optimize, resume):
        parser.add_argument(
            "--llm-cache",
            help="SQLite file of the LLM-call cache (default RUN_DIR/llm_cache.sqlite), or "
            "'off' (e.g. to set a damaged cache aside; the run remembers it)",
        )
        parser.add_argument(
            "--max-calls", type=int, help="stop once the run has made N model calls (resumable)"
        )
        parser.add_argument(
            "--max-tokens", type=int, help="stop once the run has used N tokens (resumable)"
        )
        parser.add_argument(
            "--max-concurrency", type=int, help="at most N model calls in flight (per role)"
        )
        parser.add_argument("--rps", type=float, help="at most R model calls per second per role")


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


def dry_run(config: RunConfig) -> str:
    n_icl = len(load_icl(config.icl_path)[: config.icl.n])
    sp = config.system_prompt
    head = (
        f"dry run (no model is called): ICL stage W={config.icl.W} M={config.icl.M} "
        f"D={config.icl.D} on {n_icl} examples; system prompt W={sp.W} M={sp.M} D={sp.D} B={sp.B}"
    )
    return head + "\n" + format_estimate(estimate(config, n_icl))


def print_usage(result: dict[str, Any]) -> None:
    usage: dict[str, dict[str, int]] = result.get("usage") or {}
    if usage:
        rows = ", ".join(
            f"{role} {row['calls']} ({row['cache_hits']} hits, "
            f"{row['input_tokens']}+{row['output_tokens']} tokens)"
            for role, row in usage.items()
        )
        print(f"model calls per role: {rows}", file=sys.stdout)
