"""Graceful stop of a running ``drpo optimize`` / ``drpo resume``, and the message of a run that
stopped early (budget or request).

SIGINT, SIGTERM or a file named ``STOP`` in the run directory (the inspector's stop button
writes it) asks the run to stop: no model call starts any more (the call gate of
drpo/llm/session.py interrupts each task that tries), the calls in flight finish, and the run stops
at the superstep boundary with its checkpoint, printing the best prompt so far and the resume
command; exit code 4 (``drpo.cli.budget.EXIT_STOPPED``). Calls still in flight after
``DRPO_STOP_WAIT_S`` seconds (default 120) are cancelled; they run again on resume. A second
SIGINT stops at once (exit 130, resumable as after a kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from drpo.core.limits import resume_hint
from drpo.llm.session import BudgetReached, RunPaused, Session, StopRequested

STOP_FILE = "STOP"
POLL_S = 0.25


def stop_wait_s() -> float:
    return float(os.environ.get("DRPO_STOP_WAIT_S", "120"))


def request_stop(run_dir: Path) -> Path:
    """Ask a run to stop (from another process): write its STOP file."""
    path = Path(run_dir) / STOP_FILE
    path.write_text("stop requested\n")
    return path


@contextlib.asynccontextmanager
async def graceful_stop(
    run_dir: Path, session: Session, progress: Callable[[str], None]
) -> AsyncIterator[None]:
    """Watch for SIGINT/SIGTERM and the STOP file while the run executes (main thread only for
    the signals); once the bounded wait is over, cancel what is still in flight."""
    loop, main = asyncio.get_running_loop(), asyncio.current_task()
    stop_file = Path(run_dir) / STOP_FILE
    if stop_file.exists():
        stop_file.unlink()
        progress("removed a STOP file left from an earlier stop")
    state: dict[str, Any] = {"timer": None, "expired": False}

    def expire() -> None:
        state["expired"] = True
        if main is not None:
            main.cancel()

    def request(reason: str) -> None:
        if session.stop_request is not None:
            return
        session.request_stop(reason)
        wait = stop_wait_s()
        progress(
            f"stopping ({reason}): no new model call starts; the calls in flight may take up to "
            f"{wait:g} s (a second Ctrl-C stops at once)"
        )
        state["timer"] = loop.call_later(wait, expire)

    def on_signal(sig: signal.Signals) -> None:
        if session.stop_request is not None and sig == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C
        request(sig.name)

    installed: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal, sig)
            installed[sig] = previous
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass

    async def watch() -> None:
        while True:
            if stop_file.exists():
                request("STOP file")
            await asyncio.sleep(POLL_S)

    watcher = asyncio.create_task(watch())
    try:
        yield
    except asyncio.CancelledError:
        if not state["expired"] or main is None:
            raise
        main.uncancel()
        session.stopped = f"{session.stop_request}; calls in flight after {stop_wait_s():g} s "
        session.stopped += "were cancelled and run again on resume"
    finally:
        watcher.cancel()
        if state["timer"] is not None:
            state["timer"].cancel()
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous)
        if session.stop_request is not None and stop_file.exists():
            stop_file.unlink()
    if session.stop_request is not None and session.stopped is None:
        # nothing was left to stop (the last calls were in flight): the run finished
        progress("the run finished before it could stop")


def paused_error(run_id: str, root: Path, session: Session, result: dict[str, Any]) -> RunPaused:
    """The error of a run that stopped early: why, dollars spent, the best prompt so far and
    the command that continues it."""
    resume = resume_hint(run_id, root)
    best = result.get("best_system_prompt")
    levels = result.get("levels") or []
    where = f" (stage 2 level {levels[-1]['level']})" if levels and best else ""
    body = (
        f"\n${session.spent_usd():.4f} spent so far."
        f"\nbest system prompt so far{where}:\n{best or '(none yet: stage 2 has not started)'}"
    )
    if session.stop_request is not None:
        return StopRequested(
            f"stopped ({session.stopped}): the run is saved at a superstep boundary.{body}"
            f"\ncontinue it with: {resume}"
        )
    return BudgetReached(
        f"budget reached: {session.stopped}; the run is saved at a superstep boundary.{body}"
        f"\ncontinue it with a larger budget: {resume} --max-calls N (or --max-tokens N, "
        "--max-usd X)"
    )
