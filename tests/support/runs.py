"""Runs of the fake model in this process: `drpo optimize` by its command line (``optimize``) or
a run made directly (``run_once``), its call log and its summary; the search sizes tests share."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.runtime.runner import Run, execute, summary

# Searches for `drpo optimize` with the fake model. TINY: one example, one level per stage; hand
# count: stage 1 = 1 selection, 2 judgements, 1 transition (4 calls); stage-2 level 0 =
# selection, answer, judgement (7); level 1 adds selection, transition, ... (>= 8): STOP_AT.
TINY = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "--seeds", "2", "-K", "1"]
STOP_AT = 8
SMALL = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "2", "--seeds", "3", "-K", "1"]


def optimize(run_dir: Path, run_id: str, models: str, *args: str) -> int:
    """`drpo optimize --run-dir RUN_DIR --run-id RUN_ID --models MODELS ARGS...` in this process;
    its exit code."""
    argv = ["optimize", "--run-dir", str(run_dir), "--run-id", run_id, "--models", models]
    return main([*argv, *args])


def fake_spec(log: Path, **opts: Any) -> str:
    extra = "".join(f",{k}={v}" for k, v in opts.items())
    return f"fake:log={log}{extra}"


def fake_context(spec: str, **kw: Any) -> Context:
    return Context(
        base_model=kw.pop("base", spec),
        optimizer_model=spec,
        judge_model=spec,
        selector_model=kw.pop("selector", spec),
        **kw,
    )


def small_config(**sp: Any) -> dict[str, Any]:
    return {
        "icl": {"n": 2, "D": 2},
        "system_prompt": {"W": 2, "M": 2, "D": 3, "K": 2, "seeds": 6, **sp},
    }


def run_once(
    run_dir: Path, run_id: str, context: Context, config: dict[str, Any]
) -> dict[str, Any]:
    run = Run(run_dir, run_id)
    run.create(RunConfig.model_validate(config), context)

    async def go() -> dict[str, Any]:
        return await execute(run, resume=False, progress=lambda _line: None)

    return asyncio.run(go())


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def show(run_dir: Path, run_id: str) -> dict[str, Any]:
    return asyncio.run(summary(Run(run_dir, run_id)))


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A summary without what differs between two runs of the same search (checkpoint ids)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "checkpoint_id"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return dict(strip(result))


# the small runs of `drpo reproduce` tests (tests/unit/test_reproduce.py and the kills)
REPRODUCE_SMALL = [
    "--icl",
    "2",
    "--icl-D",
    "2",
    "-W",
    "2",
    "-M",
    "2",
    "-D",
    "2",
    "--seeds",
    "8",
    "-K",
    "1",
    "--select",
    "last-beam",
    "--limit",
    "4",
]
