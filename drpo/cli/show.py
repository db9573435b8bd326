"""How `drpo show` (and every command that ends a run) prints a run's summary."""

from __future__ import annotations

import json
from typing import Any

from drpo.cli.budget import print_usage
from drpo.core.provenance import describe as describe_models


def print_summary(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print(f"run {result['run_id']}: {result['status']}")
    for request in result.get("pending", []):
        print(f"\npending approval (level {request['level']}), best prompt:")
        print(request["best"]["text"])
        print(f"answer with: drpo answer {result['run_id']} approve | reject | edit --text TEXT")
    print("\nbest system prompt:\n" + (result["best_system_prompt"] or "(none yet)"))
    print(f"\nICL examples optimized: {len(result['icl_examples'])}")
    for row in result["icl_levels"]:
        print(
            f"  stage 1 level {row['level']}: mean best reward {row['mean_best_reward']:.2f}"
            f" over {row['tracks']} example(s)"
        )
    for row in result["levels"]:
        best = "-" if row["best_reward"] is None else f"{row['best_reward']:.2f}"
        print(
            f"  stage 2 level {row['level']}: best reward {best}, {row['candidates']} candidate(s)"
        )
    print_validation(result)
    print("LLM calls per role: " + ", ".join(f"{k} {v}" for k, v in result["calls"].items()))
    print_usage(result)  # model calls actually made, cache hits and tokens
    history = result.get("model_history") or {}
    if any(len(rows) > 1 for rows in history.values()):
        print("models switched during the run:")
        print("\n".join(describe_models(history)))


def _ci(stats: dict[str, Any]) -> str:
    ci = stats.get("ci95")
    return f"{stats['mean']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " [n/a]")


def print_validation(result: dict[str, Any]) -> None:
    """Initial vs chosen prompt on the validation queries, with 95% CIs, the confirmation of the
    best one on fresh queries, and what it means."""
    for note in result.get("notes") or []:
        print(f"note: {note}")
    v = result.get("validation")
    if not v:
        return
    print(f"\nvalidation on {len(v['queries'])} held-out queries (mean reward, 95% CI):")
    print(f"  initial prompt: {_ci(v['initial'])}")
    top, chosen, initial = v.get("top") or v["chosen"], v["chosen"], v["initial"]["id"]
    if top["id"] not in (chosen["id"], initial):
        print(f"  best on validation ({top['source']}): {_ci(top)}")
    if chosen["id"] != initial:
        print(f"  chosen ({chosen['source']}): {_ci(chosen)}")
        print(f"  paired difference chosen - initial: {_ci(v['difference'])}")
    c = v.get("confirmation")
    if c:
        print(
            f"confirmation of {c['top']['source']} on {len(c['queries'])} fresh queries "
            f"(paired one-sided t test at {c['alpha']:.0%}):"
        )
        print(f"  initial prompt: {_ci(c['initial'])}")
        print(f"  {c['top']['source']}: {_ci(c['top'])}")
        print(f"  paired difference: {_ci(c['difference'])}")
        verdict = "beats" if c["significant"] else "does NOT significantly beat"
        print(f"  {c['top']['source']} {verdict} the initial prompt: P* is {v['chosen']['source']}")
    elif v["chosen"]["id"] == v["initial"]["id"]:
        print(
            "  the initial prompt has the highest validation mean: P* is the initial prompt"
            if v.get("rule") == "top-is-initial"
            else "  no candidate was significantly better than the initial prompt: P* is the"
            " initial prompt"
            if v.get("gate") == "significant"
            else "  P* is the initial prompt"
        )
    elif not v["significant"]:
        print("  the chosen prompt is NOT significantly better than the initial one")
