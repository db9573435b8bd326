"""The alignment pack: a pickle-free JSON of what a run produced and how it was made."""

from __future__ import annotations

import importlib.metadata as md
import json
import time
from pathlib import Path
from typing import Any

from drpo.core.data import sha256_of
from drpo.runtime.runner import Run, RunError, summary
from drpo.serving.outputs import check_output, write_output

PACK_FORMAT = "drpo-alignment-pack/1"
VERSIONED = (
    "drpo-langgraph",
    "langgraph",
    "langchain-core",
    "llama-cpp-python",
    "sentence-transformers",
    "faiss-cpu",
)


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _origin(forked: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where a forked run started: the parent run, the stage and level it was forked after."""
    if not forked:
        return None
    return {"run": forked["run_id"], "stage": forked["stage"], "level": forked["level"],
            "checkpoint_id": forked.get("checkpoint_id")}  # fmt: skip


async def export_pack(run: Run, out: Path, force: bool = False) -> dict[str, Any]:
    check_output(out, run, force)  # drpo/serving/outputs.py: before anything is read
    config, context = run.load()
    result = await summary(run)
    if result["status"] != "finished":
        raise RunError(
            f"run {run.id!r} is {result['status']}; finish it with `drpo resume {run.id}`"
        )
    pack = {
        "format": PACK_FORMAT,
        "run_id": run.id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "system_prompt": result["best_system_prompt"],
        "best_reward": result["best_reward"],
        # how P* was chosen: validation candidates, confirmation, the difference to P with CIs
        "validation": result["validation"],
        "calls_by_phase": result.get("phases") or {},  # search, selection, confirmation
        "icl_examples": result["icl_examples"],
        "K": config.system_prompt.K,
        "embedding_model": context.embedding_model,
        "models": {
            "base": context.base_model,
            "optimizer": context.optimizer_model,
            "judge": context.judge_model,
            "selector": context.selector_model,
        },
        "model_history": run.model_history(),  # each role's models, from which level on
        "forked_from": _origin(run.meta().get("forked_from")),  # None: not a fork
        "level_judges": result["level_judges"],  # the judge model and node of each level
        "icl_report": result["icl_report"],  # each example's winning level and its judge
        "judge_node": context.judge_node,
        "config": config.model_dump(),
        "calls": result["calls"],
        # cost and provider provenance: dollars at the roles' prices ($/1M in, out tokens),
        # model calls and tokens per role, and how each model was asked for JSON
        "spent_usd": result["spent_usd"],
        "prices": result["prices"],
        "usage": result["usage"],
        "structured_output": result["structured_output"],
        "provider_errors": result["provider_errors"],
        "versions": {name: _version(name) for name in VERSIONED},
        "data_hashes": {
            "icl_examples": sha256_of(result["icl_examples"]),
            "seed_order": sha256_of(result["seed_order"]),
        },
    }
    write_output(out, json.dumps(pack, indent=2, ensure_ascii=False), force)
    return pack
