"""Dollar prices per model: a small built-in table for common OpenAI models and ``--price
ROLE=IN/OUT`` (dollars per million input/output tokens) for anything else.

The table holds OpenAI's list prices (standard tier, no cached-input discount) as published in
mid-2025; check them against https://openai.com/api/pricing and override with ``--price`` when
they differ. The embedded and Hugging Face models run on this machine: $0. An
``openai-compatible:`` server, the fake model and unknown OpenAI models have no known price.
"""

from __future__ import annotations

import math

from drpo.core.context import ROLES
from drpo.core.limits import MAX_PRICE
from drpo.llm.backends.specs import SpecError, parse_spec

Price = tuple[float, float]  # dollars per 1M input tokens, per 1M output tokens
OPENAI_PRICES: dict[str, Price] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def parse_price(item: str) -> tuple[str, Price]:
    """``judge=2.5/10`` -> ("judge", (2.5, 10.0)); ValueError names the bad item."""
    role, sep, value = item.partition("=")
    in_text, slash, out_text = value.partition("/")
    try:
        price = (float(in_text), float(out_text))
    except ValueError:
        price = (-1.0, -1.0)
    in_range = all(math.isfinite(p) and 0 <= p <= MAX_PRICE for p in price)  # NaN, inf: no
    if not sep or role not in ROLES or not slash or not in_range:
        raise ValueError(
            f"--price {item!r}: expected ROLE=IN/OUT with ROLE one of {ROLES} and IN, OUT "
            f"dollars per million input/output tokens from 0 to {MAX_PRICE:g} (e.g. judge=2.5/10)"
        )
    return role, price


def table_price(spec: str) -> Price | None:
    """The built-in price of a model spec (dated snapshots match their family), or None."""
    try:
        parsed = parse_spec(spec)
    except SpecError:  # e.g. a recorded fake spec whose log folder is gone: it has no price
        return None
    if parsed.provider in ("local", "hf"):
        return (0.0, 0.0)
    if parsed.provider != "openai":
        return None
    matches = [name for name in OPENAI_PRICES if parsed.model.startswith(name)]
    # the longest matching family: "gpt-4o-mini-2024-07-18" is gpt-4o-mini, not gpt-4o
    matches = [m for m in matches if parsed.model == m or parsed.model[len(m)] == "-"]
    return OPENAI_PRICES[max(matches, key=len)] if matches else None


def role_prices(
    specs: dict[str, str], overrides: dict[str, list[float]]
) -> dict[str, Price | None]:
    """The price of each role: ``--price`` first, else the table."""
    out: dict[str, Price | None] = {}
    for role, spec in specs.items():
        given = overrides.get(role)
        out[role] = (float(given[0]), float(given[1])) if given else table_price(spec)
    return out


def cost(price: Price | None, input_tokens: float, output_tokens: float) -> float:
    if price is None:
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
