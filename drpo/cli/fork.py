"""`drpo fork`: a new run from the checkpoint after level K of a run, with other options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drpo.cli.args import add_step_flags, run_id_arg, step_overrides
from drpo.cli.icl_from import resolve_icl_from as resolve_icl_from  # drpo optimize's
from drpo.cli.runs import execute_cli
from drpo.cli.show import print_summary
from drpo.core.config import RunConfig
from drpo.core.context import ROLES
from drpo.llm.backends.completion import checked_spec
from drpo.runtime.forking import fork_run, forked_context
from drpo.runtime.runner import Run, RunError


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
    for role in ROLES:
        if spec := overrides[f"{role}_model"]:
            checked_spec(spec, role)
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
