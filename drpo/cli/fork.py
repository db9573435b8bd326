"""`drpo fork`: a new run from the checkpoint after level K of a run, with other options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drpo.cli.args import add_step_flags, run_id_arg, step_overrides
from drpo.cli.runs import execute_cli
from drpo.cli.show import print_summary
from drpo.core.config import RunConfig
from drpo.core.context import ROLES
from drpo.llm.backends.registry import parse_spec
from drpo.runtime.forking import fork_run, forked_context
from drpo.runtime.runner import Run, RunError, summary


def add_parsers(sub: Any) -> None:
    fk = sub.add_parser("fork", help="start a new run from the checkpoint after level K of a run")
    fk.add_argument("run_id")
    fk.add_argument("--level", type=int, required=True, help="the level K to start after")
    fk.add_argument(
        "--stage", choices=["system_prompt", "icl"], default="system_prompt",
        help="the stage of level K (default system_prompt)",
    )  # fmt: skip
    fk.add_argument(
        "--run-id", dest="new_id", type=run_id_arg, help="the new run's id (default RUN_ID-fork-N)"
    )
    fk.add_argument("--run-dir", type=Path, default=Path("runs"))
    fk.add_argument(
        "--checkpointer", help="postgresql://... of the parent and the fork (default: the parent's)"
    )
    fk.add_argument("--models", help="one model spec for every role")
    for role in ROLES:
        fk.add_argument(f"--{role}", help=f"model spec of the {role} role")
    add_step_flags(fk)  # --judge-node, --retriever
    fk.add_argument("--approve", action="store_true", help="review each later level's best")
    for flag, what in (("W", "beam width"), ("M", "samples per state"), ("D", "depth")):
        fk.add_argument(f"-{flag}", type=int, help=f"stage-2 {what}")
        fk.add_argument(f"--icl-{flag}", type=int, help=f"stage-1 {what}")
    fk.add_argument("-B", type=int, help="stage-2 seed queries per level")
    fk.set_defaults(handler=_fork)


def _config(config: RunConfig, args: argparse.Namespace) -> dict[str, Any]:
    stage2 = {flag: getattr(args, flag) for flag in ("W", "M", "D", "B")}
    stage1 = {flag: getattr(args, f"icl_{flag}") for flag in ("W", "M", "D")}
    return config.with_overrides(system_prompt=stage2, icl=stage1).model_dump()


async def _fork(args: argparse.Namespace) -> int:
    parent = Run(args.run_dir, args.run_id, args.checkpointer)
    config, context = parent.load()
    if args.level < 0:
        raise RunError(f"--level must be 0 or more, got {args.level}")
    overrides: dict[str, Any] = {
        f"{role}_model": getattr(args, role) or args.models for role in ROLES
    }
    for spec in overrides.values():
        if spec:
            parse_spec(spec)
    overrides.update(step_overrides(args))
    overrides["approve"] = True if args.approve else None
    n = 1 + sum(1 for _ in args.run_dir.glob(f"{parent.id}-fork-*/run.json"))
    # the fork lives where its parent does (a PostgreSQL parent: the same database)
    where = args.checkpointer or parent.meta().get("checkpointer")
    new = Run(args.run_dir, args.new_id or f"{parent.id}-fork-{n}", where)
    origin = await fork_run(
        parent,
        new,
        args.stage,
        args.level,
        _config(config, args),
        forked_context(context, overrides),
    )
    print(
        f"fork {new.id} of {parent.id} after {origin['stage']} level {origin['level']} "
        f"(checkpoint {origin['checkpoint_id']})",
        file=sys.stderr,
    )
    print_summary(await execute_cli(new, resume=True), as_json=False)
    print(new.id)
    return 0


async def resolve_icl_from(value: str, run_dir: Path) -> dict[str, Any]:
    """--icl-from RUN|PACK: the optimized ICL examples of a run (its stage 1 finished) or of an
    alignment pack, with where they came from."""
    import json

    path = Path(value)
    if path.suffix == ".json" or path.is_file():
        try:
            pack = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"--icl-from {value}: cannot read the pack ({exc})") from exc
        examples = pack.get("icl_examples") if isinstance(pack, dict) else None
        source = {"pack": str(path)}
    else:
        run = Run(run_dir, value)
        run.load()
        examples = (await summary(run))["icl_examples"]
        source = {"run_id": run.id}
    if not examples or not all(
        isinstance(e, dict)
        and isinstance(e.get("query"), str)
        and isinstance(e.get("response"), str)
        for e in examples
    ):
        raise RunError(f"--icl-from {value}: no optimized ICL examples there")
    return {
        **source,
        "examples": [{"query": e["query"], "response": e["response"]} for e in examples],
    }
