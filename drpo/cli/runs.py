"""The CLI's run commands' shared parts: failures that say whether resuming can succeed, and
`drpo resume` under the run's lock (model switches recorded, a finished run never rewritten)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from drpo.cli.budget import apply_flags
from drpo.core.context import ROLES, Context
from drpo.core.provenance import resume_point
from drpo.llm.backends.completion import checked_spec
from drpo.llm.backends.registry import SpecError
from drpo.llm.session import RunPaused
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.forking import reopen_search
from drpo.runtime.runlock import RunLocked
from drpo.runtime.runner import Run, RunError, execute, summary


class UsageError(ValueError):
    pass


class RunFailed(RuntimeError):
    def __init__(self, run: Run, cause: BaseException, unreadable: str | None = None) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.run = run
        self.unreadable = unreadable  # why the saved state cannot be read back (no resume)


async def execute_cli(run: Run, resume: bool) -> dict[str, Any]:
    try:
        return await execute(run, resume=resume)
    except (RunPaused, StateFileError, RunLocked):
        raise
    except (Exception, asyncio.CancelledError) as exc:
        raise RunFailed(run, exc, await unreadable(run)) from exc


async def unreadable(run: Run) -> str | None:
    """Why the run's saved state cannot be read back (then `resume` cannot succeed), or None."""
    try:
        async with run.reader().graph() as g:
            await g.aget_state(run.thread)
    except Exception as exc:  # any failure to read it back: say so instead of "resume"
        return " ".join(str(exc).split())[:300] or type(exc).__name__
    return None


async def resume(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    """Continue a run under its lock; model switches go into its history, a finished run's
    models are never rewritten."""
    overrides = {role: getattr(args, role) or args.models for role in ROLES}
    for role, spec in overrides.items():
        if spec:
            try:
                checked_spec(spec, role)
            except SpecError as exc:
                flag = role if getattr(args, role) else "models"
                raise UsageError(f"--{flag}: {exc}") from exc
    apply_flags(args, Context())  # every flag checked first, a finished run's too
    async with run.writer(wait=args.wait):
        _, context = run.load()
        state = await summary(run.reader())
        changed = {
            role: spec
            for role, spec in overrides.items()
            if spec and spec != getattr(context, f"{role}_model")
        }
        if state["status"] == "finished":
            if changed:
                role = next(iter(changed))
                raise RunError(
                    f"run {run.id!r} has finished; --{role} would rewrite the models it was made "
                    "with (its results and pack name them): start a new run instead"
                )
            stop = state.get("budget_stop")
            if not (stop and _raised(args, stop)):
                print(f"run {run.id} has already finished", file=sys.stderr)
                state["model_history"] = run.model_history()
                return state
            # a budget stopped its search: search on from that level with the larger budget
            apply_flags(args, context)
            run.check_files(context.llm_cache)
            run.save_context(context)
            await reopen_search(run, stop["level"])
            print(f"run {run.id}: searching on after stage-2 level {stop['level']} with the larger "
                  "budget; selection and confirmation run again", file=sys.stderr)  # fmt: skip
            result = await execute_cli(run, resume=True)
            result["model_history"] = run.model_history()
            return result
        for role, spec in changed.items():
            setattr(context, f"{role}_model", spec)
        apply_flags(args, context)
        run.check_files(context.llm_cache)  # before run.json is rewritten
        run.save_context(context, resume_point(state) if changed else None)
        result = await execute_cli(run, resume=True)
    result["model_history"] = run.model_history()
    return result


def _raised(args: argparse.Namespace, stop: dict[str, Any]) -> bool:
    """Whether the flags raise the budget under which the search stopped."""
    return any(
        getattr(args, flag, None) is not None
        and stop.get(flag) is not None
        and getattr(args, flag) > stop[flag]
        for flag in ("max_calls", "max_usd")
    )
