"""The dry-run estimate per role: model calls (as this implementation makes them, and the
paper's A.5 count), output tokens at their caps, input tokens from the prompt sizes, and dollars.

Input tokens per call are estimated from the meta-prompts and the data (~4 characters per
token): the query and the answer judged are taken as long as the mean ICL query and response,
a system prompt as 1,000 characters. Output is counted at its cap, so the dollars are an upper
bound unless prompts run longer than estimated. A run that reuses an optimized ICL set
(``--icl-from``, ``optimize_icl=False``) skips stage 1: its calls are stage 2's only, and ``icl``
is the reused set (the examples retrieval gives the base model).
"""

from __future__ import annotations

from typing import Any

from drpo.core.config import RunConfig
from drpo.core.context import ROLES, Context
from drpo.core.messages import ICLExample
from drpo.core.meta_prompts import (
    JUDGE,
    PROMPT_TRANSITION,
    RESPONSE_TRANSITION,
    SELECT_ASPECTS,
    aspect_list,
)
from drpo.llm.cost import expected_calls, paper_a5, phase_calls
from drpo.llm.prices import Price, cost, role_prices

CHARS_PER_TOKEN = 4
PROMPT_CHARS = 1000  # a rewritten system prompt
EVALUATION_CHARS = 5 * 250  # five aspects, a rationale and a score each


def input_tokens_per_call(config: RunConfig, icl: list[ICLExample]) -> dict[str, int]:
    n = max(1, len(icl))
    query = sum(len(e["query"]) for e in icl) // n
    answer = sum(len(e["response"]) for e in icl) // n
    sp = config.system_prompt
    chars = {
        "selector": len(SELECT_ASPECTS) + len(aspect_list()) + query,
        "judge": len(JUDGE) + 5 * 120 + query + answer + 5 * 100,
        "base": PROMPT_CHARS + sp.K * (query + answer) + query,
        "optimizer": max(
            len(PROMPT_TRANSITION)
            + PROMPT_CHARS * (1 + sp.D // 2)
            + sp.B * (query + answer + EVALUATION_CHARS),
            len(RESPONSE_TRANSITION) + query + answer + EVALUATION_CHARS,
        ),
    }
    return {role: c // CHARS_PER_TOKEN for role, c in chars.items()}


def estimate(
    config: RunConfig,
    icl: list[ICLExample],
    context: Context | None = None,
    optimize_icl: bool = True,
) -> dict[str, dict[str, Any]]:
    n_icl = len(icl) if optimize_icl else 0  # the examples stage 1 optimizes
    calls = expected_calls(config, n_icl)
    icl_stage, sp = config.icl, config.system_prompt
    a5 = paper_a5(sp.W, sp.M, sp.D, n_icl, icl_stage.W, icl_stage.M, icl_stage.D)
    per_call = input_tokens_per_call(config, icl)
    prices: dict[str, Price | None] = (
        role_prices(context.specs(), context.prices) if context else dict.fromkeys(ROLES)
    )
    out: dict[str, dict[str, Any]] = {}
    for role in ("selector", "optimizer", "base", "judge"):
        inputs, outputs = calls[role] * per_call[role], calls[role] * output_cap(config, role)
        price = prices.get(role)
        out[role] = {
            "calls": calls[role],
            "paper_a5": a5[role],
            "max_output_tokens": outputs,
            "input_tokens": inputs,
            "usd": None if price is None else round(cost(price, inputs, outputs), 4),
        }
    return out


def format_estimate(rows: dict[str, dict[str, Any]]) -> str:
    keys = ("calls", "paper_a5", "max_output_tokens", "input_tokens")
    total: dict[str, Any] = {k: sum(r[k] for r in rows.values()) for k in keys}
    unpriced = [role for role, row in rows.items() if row["usd"] is None]
    total["usd"] = None if unpriced else sum(r["usd"] for r in rows.values())
    lines = [
        f"{'role':<10} {'calls':>7} {'paper A.5':>10} {'max output tokens':>18} "
        f"{'input tokens':>13} {'max $':>10}"
    ]
    for role, row in {**rows, "total": total}.items():
        usd = "?" if row["usd"] is None else f"{row['usd']:.2f}"
        lines.append(
            f"{role:<10} {row['calls']:>7} {row['paper_a5']:>10} {row['max_output_tokens']:>18} "
            f"{row['input_tokens']:>13} {usd:>10}"
        )
    lines.append(
        "Assumes no cache hits, no dropped duplicates and no retries; output tokens at the "
        "sampling caps (an upper bound); input tokens estimated from the prompt sizes."
    )
    if unpriced:
        lines.append(f"No price for: {', '.join(unpriced)} (give one with --price ROLE=IN/OUT).")
    return "\n".join(lines)


def phase_estimate(
    config: RunConfig,
    icl: list[ICLExample],
    context: Context | None = None,
    optimize_icl: bool = True,
) -> dict[str, dict[str, Any]]:
    """Calls and dollars (upper bounds) of the search, the selection and the confirmation."""
    phases = phase_calls(config, len(icl) if optimize_icl else 0)
    per_call = input_tokens_per_call(config, icl)
    prices: dict[str, Price | None] = (
        role_prices(context.specs(), context.prices) if context else dict.fromkeys(ROLES)
    )
    out: dict[str, dict[str, Any]] = {}
    for phase, calls in phases.items():
        usd = calls_usd(config, per_call, calls, prices)
        out[phase] = {"calls": sum(calls.values()), "usd": None if usd is None else round(usd, 4)}
    return out


def output_cap(config: RunConfig, role: str) -> int:
    s = config.sampling
    return s.base_max_tokens if role == "base" else s.json_max_tokens


def calls_usd(
    config: RunConfig,
    per_call: dict[str, int],
    calls: dict[str, int],
    prices: dict[str, Price | None],
) -> float | None:
    """Dollars of ``calls`` per role at ``per_call`` input tokens and output at its cap (an upper
    bound); None when a role that makes calls has no price."""
    total = 0.0
    for role, n in calls.items():
        if not n:
            continue
        price = prices.get(role)
        if price is None:
            return None
        total += cost(price, n * per_call[role], n * output_cap(config, role))
    return total


def format_phases(rows: dict[str, dict[str, Any]], select: str) -> str:
    """One line: where the calls (and dollars) go."""
    def part(name: str, row: dict[str, Any]) -> str:
        usd = "" if row["usd"] is None else f" (${row['usd']:.2f})"
        return f"{name} {row['calls']}{usd}"

    sel, conf = rows["selection"], rows["confirmation"]
    text = ", ".join([part("search", rows["search"]), part(f"selection ({select})", sel),
                      part("confirmation up to", conf)])  # fmt: skip
    if select == "race" and conf["calls"]:
        text += "; a sequential confirmation usually stops near half of that"
    return f"calls by phase (upper bounds): {text}"
