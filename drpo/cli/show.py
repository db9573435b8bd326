"""How `drpo show` (and every command that ends a run) prints a run's summary."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from drpo.cli.budget import print_usage
from drpo.core.provenance import describe as describe_models
from drpo.runtime.summary import describe_phases

A = TypeVar("A")
PIPE_CLOSED = 141  # as a process killed by SIGPIPE (128 + 13)


def quietly(command: Callable[[A], int], args: A) -> int:
    """Run a command; a reader that closed stdout (`drpo show X | head`) ends it quietly: no
    BrokenPipeError traceback, nor one when Python flushes stdout at exit."""
    try:
        code = command(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED


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
        mean = "-" if row["mean_best_reward"] is None else f"{row['mean_best_reward']:.2f}"
        print(
            f"  stage 1 level {row['level']}: mean best reward {mean}"
            f" over {row['tracks']} example(s)"
        )
    for row in result["levels"]:
        best = "-" if row["best_reward"] is None else f"{row['best_reward']:.2f}"
        print(
            f"  stage 2 level {row['level']}: best reward {best}, {row['candidates']} candidate(s)"
        )
    print_validation(result)
    if split := result.get("phases"):
        print(f"LLM calls by phase: {describe_phases(split)}")
    print("LLM calls per role: " + ", ".join(f"{k} {v}" for k, v in result["calls"].items()))
    print_usage(result)  # model calls actually made, cache hits and tokens
    history = result.get("model_history") or {}
    if any(len(rows) > 1 for rows in history.values()):
        print("models switched during the run:")
        print("\n".join(describe_models(history)))


def _ci(stats: dict[str, Any]) -> str:
    ci = stats.get("ci95")
    text = f"{stats['mean']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " [n/a]")
    n = len(stats.get("rewards") or [])
    return f"{text} on {n} quer{'y' if n == 1 else 'ies'}" if n else text


def print_validation(result: dict[str, Any]) -> None:
    """Initial vs chosen prompt on the validation queries, with 95% CIs, the confirmation of the
    best one on fresh queries, and what it means."""
    for note in result.get("notes") or []:
        print(f"note: {note}")
    v = result.get("validation")
    if not v:
        return
    print(f"\nvalidation on {len(v['queries'])} held-out queries (mean reward, 95% CI):")
    rungs = v.get("rungs") or []
    if len(rungs) > 1:
        ran = [sum(len(x["rewards"]) >= n for x in v["candidates"]) for n in rungs]
        steps = ", then ".join(f"{k} on {n}" for k, n in zip(ran, rungs, strict=True))
        print(f"  race of {len(v['candidates'])} distinct prompts: {steps} queries")
    print(f"  initial prompt: {_ci(v['initial'])}")
    chosen, initial = v.get("chosen"), v["initial"]["id"]
    top = v.get("top") or chosen
    if top and top["id"] not in ((chosen or {}).get("id"), initial):
        print(f"  best on validation ({top['source']}): {_ci(top)}")
    if chosen is None:  # between validation and the final choice (confirmation under way)
        print("  P* is not chosen yet: the confirmation on fresh queries has not finished")
        return
    if chosen["id"] != initial:
        print(f"  chosen ({chosen['source']}): {_ci(chosen)}")
        print(f"  paired difference chosen - initial: {_ci(v['difference'])}")
    c = v.get("confirmation")
    if c:
        looks = c.get("looks") or []
        test = (
            f"sequential paired t test, {c.get('spending')} spending, looks at "
            + ", ".join(str(look["n"]) for look in looks)
            + f" of {c.get('planned')}: stopped for {c.get('stopped')}"
            if len(looks) > 1 or c.get("spending")
            else "paired one-sided t test"
        )
        print(
            f"confirmation of {c['top']['source']} on {len(c['queries'])} fresh queries "
            f"({test}, {c['alpha']:.0%} overall):"
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
