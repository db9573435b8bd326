"""`drpo` command line: optimize, resume, show, export.

Exit codes: 0 done; 1 the run failed (saved, resumable); 2 bad input (one line on stderr,
nothing written); 3 a budget (--max-calls/--max-tokens/--max-usd) was reached; 4 stopped on
request (SIGINT/SIGTERM or a STOP file; 3 and 4 print the best prompt so far and the resume
command); 130 a second Ctrl-C stopped at once (resumable as after a kill).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from drpo.cli import apps, fork, reproduce
from drpo.cli import eval as eval_cli
from drpo.cli.args import NonEmptyParser, add_step_flags, run_id_arg, step_overrides
from drpo.cli.budget import add_flags, apply_flags, dry_run
from drpo.cli.fork import resolve_icl_from
from drpo.cli.runs import RunFailed, UsageError, execute_cli, resume
from drpo.cli.show import print_summary as _print_summary
from drpo.cli.show import quietly
from drpo.core.config import RunConfig, overridden
from drpo.core.context import ROLES, Context, described
from drpo.core.data import DataError
from drpo.core.limits import check_examples, check_run_dir, loads_bounded, resume_hint
from drpo.core.plan import ConfigError, InvalidConfig, checked_config, validation_line
from drpo.llm.backends.completion import checked_spec
from drpo.llm.backends.registry import SpecError
from drpo.llm.calls import DRPOCallError
from drpo.llm.provider_errors import describe, is_provider_error
from drpo.llm.session import RunPaused
from drpo.runtime.checkpointer_url import redact
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.loop import run_async
from drpo.runtime.runlock import writer_active
from drpo.runtime.runner import Run, RunError, summary

# Modules that add subcommands: each has ``add_parsers(sub)``; a subcommand it adds sets
# ``handler=async fn(args) -> int`` with ``set_defaults``. Their errors follow main()'s rules.
SUBCOMMANDS = (apps, eval_cli, fork, reproduce)  # each adds its own subcommands' parsers


class _Parser(NonEmptyParser):
    """Usage errors in one line (subcommand parsers inherit this class); no abbreviated
    options (``--select`` must never be read as ``--selector``); no empty values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="drpo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    opt = sub.add_parser("optimize", help="start a DRPO run (stage 1 then stage 2)")
    opt.add_argument("--config", type=Path, help="JSON file with a RunConfig")
    opt.add_argument("--run-id", type=run_id_arg, help="letters, digits, '-', '_' (at most 100)")
    opt.add_argument("--models", help="one model spec for every role (default: local)")
    for role in ROLES:
        opt.add_argument(f"--{role}", help=described(f"{role}_model"))
    add_step_flags(opt)  # --judge-node, --retriever
    opt.add_argument("--approve", action="store_true", help=described("approve"))
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
    opt.add_argument("--reward", choices=["dynamic", "static"], help="both stages' reward")
    opt.add_argument("--icl-reward", choices=["dynamic", "static"], help="stage 1's reward")
    opt.add_argument("--prompt-reward", choices=["dynamic", "static"], help="stage 2's reward")
    opt.add_argument("--select", choices=["race", "validation", "last-beam"],
                     help="how P* is chosen (race; see docs/usage.md)")  # fmt: skip
    opt.add_argument("--validation", type=int, help="validation queries (default: up to 16 left)")
    opt.add_argument(
        "--confirm",
        type=int,
        help="fresh queries that confirm the best validation prompt against the initial one "
        "(default: up to 48 left; 0: none)",
    )
    opt.add_argument(
        "--gate", choices=["significant", "none"], help="validation: P* must beat P significantly"
    )
    opt.add_argument("--icl-from", help="reuse the optimized ICL set of a run id or pack file")
    opt.add_argument("--search", choices=["beam", "greedy", "mc"], help="stage-2 search")
    opt.add_argument("--seed", type=int, help="run seed (optimizer sampling)")
    for name in ("resume", "show", "export"):
        sp = sub.add_parser(name)
        sp.add_argument("run_id")
        if name == "resume":
            sp.add_argument("--models", help="replace every role's model spec (not when finished)")
            for role in ROLES:
                sp.add_argument(f"--{role}", help=f"replace the {role} model spec")
            sp.add_argument(
                "--wait", action="store_true", help="wait while another process writes the run"
            )
        if name == "show":
            sp.add_argument("--json", action="store_true")
        if name == "export":
            sp.add_argument("-o", "--output", type=Path, required=True)
            sp.add_argument("--force", action="store_true", help="replace an existing file")
    add_flags(opt, sub.choices["resume"])  # --dry-run, --max-calls, --max-concurrency, ...
    for sp in sub.choices.values():
        sp.add_argument("--run-dir", type=Path, default=Path("runs"))
        sp.add_argument(
            "--checkpointer",
            default=os.environ.get("DRPO_CHECKPOINTER") or None,
            help="postgresql://USER@HOST:PORT/DB (password from PGPASSWORD); default: SQLite in "
            "the run dir. A run remembers it (without the password).",
        )
    for module in SUBCOMMANDS:
        module.add_parsers(sub)
    return p


def _config(args: argparse.Namespace) -> RunConfig:
    data: dict[str, Any] = {}
    if args.config:
        try:
            data = loads_bounded(args.config.read_text(), f"--config {args.config}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"--config {args.config}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--config {args.config}: expected a JSON object (a RunConfig)")
    where = f" (--config {args.config})" if args.config else ""
    for name in ("icl", "system_prompt", "sampling"):
        if not isinstance(data.setdefault(name, {}), dict):
            kind = type(data[name]).__name__ if data[name] is not None else "null"
            raise UsageError(f"invalid config: {name}: expected an object, got {kind}{where}")
    stage2 = {key: getattr(args, flag) for flag, key in (
        ("W", "W"), ("M", "M"), ("D", "D"), ("K", "K"), ("B", "B"), ("seeds", "seeds"),
        ("select", "select"), ("validation", "validation"), ("confirm", "confirm"),
        ("patience", "patience"), ("gate", "gate"), ("prompt_reward", "reward"),
    )}  # fmt: skip
    stage1 = {key: getattr(args, flag) for flag, key in (
        ("icl_W", "W"), ("icl_M", "M"), ("icl_D", "D"), ("icl", "n"), ("icl_reward", "reward")
    )}  # fmt: skip
    data = overridden(data, stage2, stage1, reward=args.reward, search=args.search, seed=args.seed)
    if args.validation is not None and args.validation < 1:
        raise UsageError(f"--validation must be at least 1, got {args.validation}")
    if args.confirm is not None and args.confirm < 0:
        raise UsageError(f"--confirm must be at least 0, got {args.confirm}")
    try:
        return checked_config(data)  # a bad or empty seed set fails here, before a run exists
    except InvalidConfig as exc:
        raise UsageError(f"{exc}{where}") from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _context(args: argparse.Namespace, run_dir: Path) -> Context:
    specs = {role: getattr(args, role) or args.models or "local" for role in ROLES}
    for role, spec in specs.items():
        try:
            checked_spec(spec, role)
        except SpecError as exc:
            raise UsageError(f"--{role if getattr(args, role) else 'models'}: {exc}") from exc
    steps = step_overrides(args)
    return Context(
        base_model=specs["base"],
        optimizer_model=specs["optimizer"],
        judge_model=specs["judge"],
        selector_model=specs["selector"],
        judge_node=steps["judge_node"] or "dynamic",
        retriever=steps["retriever"] or "faiss",
        approve=bool(getattr(args, "approve", False)),
        index_cache_dir=str(run_dir / "index_cache"),
    )


async def _main(args: argparse.Namespace) -> int:
    if handler := getattr(args, "handler", None):
        return int(await handler(args))
    run_dir: Path = args.run_dir
    check_run_dir(run_dir)  # /etc/passwd: one line, not a traceback when a folder is made
    if args.command == "optimize":
        config, context = _config(args), _context(args, run_dir)
        apply_flags(args, context, config)
        if args.dry_run:
            print(dry_run(config, context))
            return 0
        icl_from = await resolve_icl_from(args.icl_from, run_dir) if args.icl_from else None
        check_examples(icl_from["examples"] if icl_from else [], f"--icl-from {args.icl_from}")
        if icl_from and len(icl_from["examples"]) < config.system_prompt.K:
            raise UsageError(f"K={config.system_prompt.K} is larger than the --icl-from set")
        run = Run(run_dir, args.run_id or time.strftime("run-%Y%m%d-%H%M%S"), args.checkpointer)
        if run.exists() or (run.checkpointer and await run.has_checkpoints()):
            where = redact(run.checkpointer) if run.checkpointer else run.root
            raise RunError(f"run {run.id!r} already exists in {where}; use `drpo resume {run.id}`")
        run.check_files(context.llm_cache)  # shared store and call cache, before any write
        async with run.writer():
            run.create(config, context, extra={"icl_from": icl_from} if icl_from else None)
            hint = resume_hint(run.id, run_dir)
            print(f"run {run.id} in {run.dir} (resume with: {hint})", file=sys.stderr)
            result = await execute_cli(run, resume=False)
        _print_summary(result, as_json=False)
        return 0
    run = Run(run_dir, args.run_id, args.checkpointer, read_only=args.command != "resume")
    run.load()  # no run, or a damaged run.json: one line, before anything else
    if args.command == "resume":
        # damage: one line, before a killed writer's lock is taken over. A live writer's files
        # are its own (a new run's database is empty until it is set up): they are checked
        # once the lock is this process's (a plain resume is refused, --wait waits)
        if not writer_active(run.dir):
            run.check_files()
        _print_summary(await resume(run, args), as_json=False)
    elif args.command == "show":
        result = await summary(run)
        result["model_history"] = run.model_history()
        _print_summary(result, as_json=args.json)
    else:
        from drpo.serving.pack import export_pack

        pack = await export_pack(run, args.output, args.force)
        print(f"wrote {args.output} (K={pack['K']}, {len(pack['icl_examples'])} ICL examples)")
    return 0


def main(argv: list[str] | None = None) -> int:
    code = quietly(_run, _parser().parse_args(argv))  # a closed stdout: quiet, exit 141
    # a failed run's tasks can leave a SQLite connection (and its lock) in a reference cycle of
    # their tracebacks: collect it before the caller (a test, a script) resumes the run
    gc.collect()
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        return run_async(_main(args))
    except RunFailed as exc:
        cause = exc.__cause__
        reason = str(cause) if isinstance(cause, DRPOCallError) else str(exc)
        if cause is not None and is_provider_error(cause):
            reason = describe(cause)  # e.g. "HTTP 401 from http://...: invalid api key"
        advice = (
            f"The run's saved state cannot be read back ({exc.unreadable}); resuming cannot "
            "succeed until that is fixed."
            if exc.unreadable
            else f"The run is saved; continue it with: {resume_hint(exc.run.id, exc.run.root)}"
        )
        print(f"drpo: run failed: {' '.join(reason.split())[:600]}\n{advice}", file=sys.stderr)
        return 1
    except (StateFileError, sqlite3.DatabaseError) as exc:
        print(f"drpo: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except RunPaused as exc:  # exit 3: budget reached; 4: stopped on request
        print(f"drpo: {exc}", file=sys.stderr)
        return exc.exit_code
    except (UsageError, RunError, SpecError, DataError, ValidationError, ValueError) as exc:
        print(f"drpo: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("drpo: interrupted; the run is saved and can be resumed", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return validation_line(exc)
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
