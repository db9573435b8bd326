"""`drpo` command line: optimize, resume, show, export.

Exit codes: 0 done; 1 the run failed (saved, resumable); 2 bad input (one line on stderr,
nothing written); 3 a budget (--max-calls/--max-tokens/--max-usd) was reached; 4 stopped on
request (SIGINT/SIGTERM or a STOP file; 3 and 4 print the best prompt so far and the resume
command); 130 a second Ctrl-C stopped at once (resumable as after a kill).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from drpo.budget import RunPaused
from drpo.calls import DRPOCallError
from drpo.cli_budget import add_flags, apply_flags, dry_run, print_usage
from drpo.config import Context, RunConfig
from drpo.data import DataError, load_icl, load_seeds
from drpo.models.registry import SpecError, parse_spec
from drpo.persistence import redact
from drpo.provider_errors import describe, is_provider_error
from drpo.runner import Run, RunError, execute, summary
from nodes.judges import resolve_judge

ROLES = ("base", "optimizer", "judge", "selector")
# Modules that add subcommands: each has ``add_parsers(sub)``; a subcommand it adds sets
# ``handler=async fn(args) -> int`` with ``set_defaults``. Their errors follow main()'s rules.
EXTENSIONS: tuple[str, ...] = ("drpo.cli_apps", "drpo.cli_eval")


class UsageError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (subcommand parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class RunFailed(RuntimeError):
    def __init__(self, run: Run, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.run = run


async def _execute(run: Run, resume: bool) -> dict[str, Any]:
    try:
        return await execute(run, resume=resume)
    except RunPaused:  # budget spent or stop requested: saved, resumable
        raise
    except (Exception, asyncio.CancelledError) as exc:
        raise RunFailed(run, exc) from exc


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="drpo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    opt = sub.add_parser("optimize", help="start a DRPO run (stage 1 then stage 2)")
    opt.add_argument("--config", type=Path, help="JSON file with a RunConfig")
    opt.add_argument("--run-id", default=None)
    opt.add_argument("--models", help="one model spec for every role (default: local)")
    for role in ROLES:
        opt.add_argument(f"--{role}", help=f"model spec of the {role} role")
    opt.add_argument("--judge-node", help="dynamic | holistic | module:function")
    opt.add_argument(
        "--approve", action="store_true", help="ask a human to approve each level's best prompt"
    )
    opt.add_argument("-W", type=int, help="stage-2 beam width")
    opt.add_argument("-M", type=int, help="stage-2 samples per state")
    opt.add_argument("-D", type=int, help="stage-2 depth")
    opt.add_argument("-K", type=int, help="ICL examples retrieved per query")
    opt.add_argument("-B", type=int, help="seed queries scored per level")
    opt.add_argument("--icl-W", type=int)
    opt.add_argument("--icl-M", type=int)
    opt.add_argument("--icl-D", type=int)
    opt.add_argument("--seeds", type=int, help="use N shuffled seed queries")
    opt.add_argument("--icl", type=int, help="optimize the first N base ICL examples")
    opt.add_argument("--reward", choices=["dynamic", "static"])
    opt.add_argument("--search", choices=["beam", "greedy", "mc"], help="stage-2 search")
    opt.add_argument("--seed", type=int, help="run seed (optimizer sampling)")
    for name in ("resume", "show", "export"):
        sp = sub.add_parser(name)
        sp.add_argument("run_id")
        if name == "resume":
            sp.add_argument("--models", help="replace every role's model spec")
            for role in ROLES:
                sp.add_argument(f"--{role}", help=f"replace the {role} model spec")
        if name == "show":
            sp.add_argument("--json", action="store_true")
        if name == "export":
            sp.add_argument("-o", "--output", type=Path, required=True)
    add_flags(opt, sub.choices["resume"])  # --dry-run, --max-calls, --max-concurrency, ...
    for sp in sub.choices.values():
        sp.add_argument("--run-dir", type=Path, default=Path("runs"))
        sp.add_argument(
            "--checkpointer",
            default=os.environ.get("DRPO_CHECKPOINTER") or None,
            help="postgresql://USER@HOST:PORT/DB (password from PGPASSWORD); default: SQLite in "
            "the run dir. A run remembers it (without the password).",
        )
    for module in EXTENSIONS:
        importlib.import_module(module).add_parsers(sub)
    return p


def _config(args: argparse.Namespace) -> RunConfig:
    data: dict[str, Any] = {}
    if args.config:
        try:
            data = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--config {args.config}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--config {args.config}: expected a JSON object (a RunConfig)")
    icl, sp = data.setdefault("icl", {}), data.setdefault("system_prompt", {})
    for flag, key in (
        ("W", "W"),
        ("M", "M"),
        ("D", "D"),
        ("K", "K"),
        ("B", "B"),
        ("seeds", "seeds"),
    ):
        if getattr(args, flag) is not None:
            sp[key] = getattr(args, flag)
    for flag, key in (("icl_W", "W"), ("icl_M", "M"), ("icl_D", "D"), ("icl", "n")):
        if getattr(args, flag) is not None:
            icl[key] = getattr(args, flag)
    if args.reward:
        data["reward"] = args.reward
    if args.search:
        data["search"] = args.search
    if args.seed is not None:
        data["seed"] = args.seed
    config = RunConfig.model_validate(data)
    load_seeds(config.seed_dir)  # a bad or empty seed set fails here, before a run exists
    pool = len(load_icl(config.icl_path)[: config.icl.n])
    if pool < config.system_prompt.K:
        raise UsageError(f"K={config.system_prompt.K} is larger than the ICL pool ({pool})")
    return config


def _context(args: argparse.Namespace, run_dir: Path) -> Context:
    specs = {role: getattr(args, role) or args.models or "local" for role in ROLES}
    for role, spec in specs.items():
        try:
            parse_spec(spec)
        except SpecError as exc:
            raise UsageError(f"--{role}: {exc}") from exc
    judge_node = args.judge_node or "dynamic"
    resolve_judge(judge_node)
    return Context(
        base_model=specs["base"],
        optimizer_model=specs["optimizer"],
        judge_model=specs["judge"],
        selector_model=specs["selector"],
        judge_node=judge_node,
        approve=bool(getattr(args, "approve", False)),
        index_cache_dir=str(run_dir / "index_cache"),
    )


def _print_summary(result: dict[str, Any], as_json: bool) -> None:
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
    print("LLM calls per role: " + ", ".join(f"{k} {v}" for k, v in result["calls"].items()))
    print_usage(result)  # model calls actually made, cache hits and tokens


async def _main(args: argparse.Namespace) -> int:
    if handler := getattr(args, "handler", None):
        return int(await handler(args))
    run_dir: Path = args.run_dir
    if args.command == "optimize":
        config, context = _config(args), _context(args, run_dir)
        apply_flags(args, context)
        if args.dry_run:
            print(dry_run(config, context))
            return 0
        run = Run(run_dir, args.run_id or time.strftime("run-%Y%m%d-%H%M%S"), args.checkpointer)
        if run.checkpointer and not run.exists() and await run.has_checkpoints():
            raise RunError(f"run {run.id!r} already exists in {redact(run.checkpointer)}")
        run.create(config, context)
        print(
            f"run {run.id} in {run.dir} (resume with: drpo resume {run.id} --run-dir {run_dir})",
            file=sys.stderr,
        )
        _print_summary(await _execute(run, resume=False), as_json=False)
        return 0
    run = Run(run_dir, args.run_id, args.checkpointer)
    if args.command == "resume":
        _, context = run.load()
        overrides = {f"{role}_model": getattr(args, role) or args.models for role in ROLES}
        for key, spec in overrides.items():
            if spec:
                parse_spec(spec)
                setattr(context, key, spec)
        apply_flags(args, context)
        run.save_context(context)
        _print_summary(await _execute(run, resume=True), as_json=False)
    elif args.command == "show":
        run.load()
        _print_summary(await summary(run), as_json=args.json)
    else:
        from drpo.pack import export_pack

        pack = await export_pack(run, args.output)
        print(f"wrote {args.output} (K={pack['K']}, {len(pack['icl_examples'])} ICL examples)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except RunFailed as exc:
        cause = exc.__cause__
        reason = str(cause) if isinstance(cause, DRPOCallError) else str(exc)
        if cause is not None and is_provider_error(cause):
            reason = describe(cause)  # e.g. "HTTP 401 from http://...: invalid api key"
        print(
            f"drpo: run failed: {' '.join(reason.split())[:600]}\n"
            f"The run is saved; continue it with: drpo resume {exc.run.id} "
            f"--run-dir {exc.run.root}",
            file=sys.stderr,
        )
        return 1
    except RunPaused as exc:  # exit 3: budget reached; 4: stopped on request
        print(f"drpo: {exc}", file=sys.stderr)
        return exc.exit_code
    except (UsageError, RunError, SpecError, DataError, ValidationError, ValueError) as exc:
        print(f"drpo: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("drpo: interrupted; the run is saved and can be resumed", file=sys.stderr)
        return 130


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"invalid config: {where}: {msg}" if where else f"invalid config: {msg}"
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
