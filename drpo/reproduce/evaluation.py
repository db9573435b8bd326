"""Every row of a table evaluated on the same items with the eval judge (evals/run.py
`evaluate`, its per-run-dir cache: a re-run evaluates only what is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drpo.reproduce.plan import TablePlan
from drpo.reproduce.run import Progress
from evals.methods import resolve_all
from evals.run import evaluate

Packs = dict[str, tuple[dict[str, Any], str]]  # run id -> (pack, its path)


async def evaluate_rows(
    plan: TablePlan,
    packs: Packs,
    items: list[Any],
    settings: dict[str, Any],
    run_dir: Path,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    """The eval result per answering model ("base": the runs' base model; "tuned").
    ``settings``: eval_judge, tuned, base (specs), retries, concurrency, max_tokens,
    judge_max_tokens."""
    results: dict[str, dict[str, Any]] = {}
    for model in dict.fromkeys(row.model for row in plan.rows):
        rows = [row for row in plan.rows if row.model == model]
        ablations = {
            row.method.split(":", 1)[1]: packs[row.run]
            for row in rows
            if row.run and row.method.startswith("drpo:")
        }
        one = packs[plan.runs[0].id] if len(plan.runs) == 1 and model == "base" else None
        methods = resolve_all(
            [row.method for row in rows],
            one[0] if one else None,
            [],
            one[1] if one else None,
            ablations,
        )
        spec = settings["tuned"] if model == "tuned" else settings["base"]
        progress(
            f"reproduce {plan.table}: evaluating {len(methods)} method(s) x "
            f"{len(items)} item(s), answers by {spec}, judge {settings['eval_judge']}"
        )
        results[model] = await evaluate(
            methods,
            items,
            {
                "base_model": str(spec),
                "judge_model": str(settings["eval_judge"]),
                "base_max_tokens": settings["max_tokens"],
                "judge_max_tokens": settings["judge_max_tokens"],
            },
            cache_path=run_dir / "eval_cache.sqlite",
            index_cache_dir=run_dir / "index_cache",
            retries=settings["retries"],
            concurrency=settings["concurrency"],
            progress=progress,
        )
    return results
