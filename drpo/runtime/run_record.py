"""What a run records in run.json besides its config: the structured-output method each model
took (so that resume and fork do not probe again), and the figures ``drpo show`` adds."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from drpo.core.context import Context
from drpo.llm.backends import methods
from drpo.llm.prices import role_prices
from drpo.llm.usage import read_usage


@contextlib.asynccontextmanager
async def structured_methods(meta_file: Path, context: Context) -> AsyncIterator[None]:
    """Use the methods a run recorded; record the ones learned meanwhile, even on failure."""
    methods.remember(context.structured_used)
    try:
        yield
    finally:
        learned = {s: m for s in context.specs().values() if (m := methods.learned(s))}
        if learned and learned != context.structured_used and meta_file.exists():
            context.structured_used = {**context.structured_used, **learned}
            meta = json.loads(meta_file.read_text())
            meta["context"]["structured_used"] = context.structured_used
            tmp = meta_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, meta_file)


def provider_facts(run_dir: Path) -> dict[str, Any]:
    """Dollars spent, the price of each role ($/1M input and output tokens; None: unknown,
    its calls are not in the dollars) and the structured-output method per model."""
    meta_file = run_dir / "run.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    usage = read_usage(run_dir)
    spent = sum(row.get("micro_usd", 0) for row in usage.values()) / 1_000_000
    context = Context(**meta["context"]) if meta.get("context") else None
    prices = role_prices(context.specs(), context.prices) if context else {}
    return {
        "spent_usd": round(spent, 6),
        "prices": {role: list(p) if p else None for role, p in prices.items()},
        "structured_output": dict(context.structured_used) if context else {},
    }
