"""Concurrency: fan-out tasks run side by side, bounded by max_concurrency; the rate limit holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from drpo.llm.backends.fake import FakeChatModel
from drpo.llm.session import current_role
from tests.conftest import fake_context, fake_spec, read_log, run_once, small_config
from tests.support.runs import comparable


class InFlight:
    """Wraps the fake model's async call: how many calls run at once, and when each starts."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.starts: dict[str, list[float]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = FakeChatModel._agenerate

        async def counted(model: FakeChatModel, *args: Any, **kwargs: Any) -> Any:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.setdefault(current_role(), []).append(time.monotonic())
            try:
                return await original(model, *args, **kwargs)
            finally:
                self.now -= 1

        monkeypatch.setattr(FakeChatModel, "_agenerate", counted)


def _run(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Any:
    seen = InFlight()
    seen.install(monkeypatch)
    log = tmp_path / f"{name}.jsonl"
    context = fake_context(fake_spec(log, latency_ms=40), llm_cache="off", **kw)
    result = run_once(tmp_path / name, name, context, small_config(M=3, K=0))
    return seen, result, len(read_log(log))


def test_max_concurrency_bounds_in_flight_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free, free_result, calls = _run(tmp_path, "free", monkeypatch)
    assert free.peak >= 6  # a level's W*M = 6 transitions (and their answers) run side by side
    bounded, bounded_result, bounded_calls = _run(tmp_path, "two", monkeypatch, max_concurrency=2)
    assert bounded.peak == 2  # bounded, and still concurrent
    assert bounded_calls == calls
    for key in ("best_system_prompt", "levels", "calls"):
        assert comparable(bounded_result)[key] == comparable(free_result)[key], key


def test_requests_per_second_spaces_the_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rps = 20.0
    seen, _, calls = _run(tmp_path, "rps", monkeypatch, requests_per_second=rps)
    assert sum(len(v) for v in seen.starts.values()) == calls
    assert set(seen.starts) == {"selector", "optimizer", "base", "judge"}
    # each role's token bucket (size 1) lets one call start per 1/rps seconds; without it the
    # calls of a fan-out start together
    for role, starts in seen.starts.items():
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= 0.8 / rps, role
