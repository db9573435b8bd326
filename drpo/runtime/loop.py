"""The event loop DRPO's commands run on: uvloop where it is installed (a dependency on Linux and
macOS), asyncio's own elsewhere. A run's overhead per model call is mostly event-loop work
(tasks, futures, thread hand-offs to SQLite): uvloop does it in C."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop's loop when it is available."""
    try:
        import uvloop
    except ImportError:  # Windows: no uvloop
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
