"""Provider faults against a real HTTP server (tests/fault_server.py) through `openai-compatible:`.

Transient faults (429, 500, timeouts) are retried by the nodes' RetryPolicy with backoff and
counted; empty or garbage content is re-sampled by call_json; a 401 or an unreachable host stops
the run with one clear message and leaves it resumable.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    SMALL,
    fake_context,
    fresh_provider,
    run_once,
    show,
    small_config,
)
from tests.fault_server import FaultServer
from tests.support.runs import comparable, optimize


@pytest.fixture(autouse=True)
def _fresh_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fresh_provider(monkeypatch, "1.5")


def _spec(server: FaultServer, model: str = "fake") -> str:
    return f"openai-compatible:{model}@{server.url}"


def test_http_faults_are_retried_counted_and_change_nothing(tmp_path: Path) -> None:
    # each roll is a hash of the request: these rates give the same faults each run (2 × 429,
    # 2 × 500, 3 timeouts among 69 requests), each costing a retry's backoff
    rates = {"429": 0.04, "500": 0.04, "timeout": 0.04}
    server = FaultServer(rates, hang_s=2.5, deadline_s=300).start()  # the client waits 1.5 s
    try:
        faulty = run_once(tmp_path / "f", "f", fake_context(_spec(server)), small_config(D=2))
    finally:
        server.shutdown()
    clean = run_once(tmp_path / "c", "c", fake_context("fake"), small_config(D=2))
    # the same search as the in-process fake model: faults cost time, never results
    for key in ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls"):
        assert comparable(faulty)[key] == comparable(clean)[key], key
    stats = server.stats
    assert stats["429"] and stats["500"] and stats["timeout"], stats
    # every injected fault was seen by the client, retried, and reported in run.json
    reported = show(tmp_path / "f", "f")["provider_errors"]
    assert reported == {
        "HTTP 429": stats["429"],
        "HTTP 500": stats["500"],
        "timeout": stats["timeout"],
    }
    assert stats["requests"] == stats["ok"] + stats["429"] + stats["500"] + stats["timeout"]


def test_empty_and_garbage_replies_are_resampled(tmp_path: Path) -> None:
    server = FaultServer({"empty": 0.1, "garbage": 0.1}, deadline_s=300).start()
    try:
        result = run_once(tmp_path, "g", fake_context(_spec(server)), small_config())
    finally:
        server.shutdown()
    clean = run_once(tmp_path / "c", "c", fake_context("fake"), small_config())
    assert server.stats["empty"] and server.stats["garbage"], server.stats
    assert result["status"] == "finished" and result["best_system_prompt"]
    assert result["calls"] == clean["calls"]  # each bad reply was re-sampled, not scored
    assert all(row["best_reward"] is not None for row in result["levels"])
    # the client parses json_schema replies itself: each bad one is classified, counted, then
    # re-sampled
    stats = server.stats
    assert result["provider_errors"] == {
        "empty reply": stats["empty"],
        "unparsable reply": stats["garbage"],
    }


def _optimize(tmp_path: Path, spec: str, *extra: str) -> int:
    return optimize(tmp_path, "r", spec, *SMALL, *extra)


def test_401_stops_the_run_clearly_and_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FaultServer(key="right-key", deadline_s=300).start()
    try:
        monkeypatch.setenv("DRPO_API_KEY", "wrong-key")
        assert _optimize(tmp_path, _spec(server)) == 1
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert f"HTTP 401 from {server.url}/chat/completions: invalid api key" in lines[-2], err
        assert "drpo resume r" in lines[-1] and "Traceback" not in err
        failed = server.stats["401"]
        # a 401 is not retried: one request per task that had started (the first superstep
        # selects the aspects of all 5 queries the run will score, side by side)
        assert 1 <= failed == server.stats["requests"] <= 5, server.stats
        # counted when the client saw it (a sibling cancelled by the failure may not have)
        reported = show(tmp_path, "r")["provider_errors"]
        assert set(reported) == {"HTTP 401"} and 1 <= reported["HTTP 401"] <= failed

        # a user resumes in a new process (this one may still hold the failed run's SQLite
        # connection state until it is collected)
        env = {**os.environ, "DRPO_API_KEY": "right-key", "HF_HUB_OFFLINE": "1"}
        resumed = subprocess.run(
            [sys.executable, "-m", "drpo.cli", "resume", "r", "--run-dir", str(tmp_path)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
    finally:
        server.shutdown()
    done = show(tmp_path, "r")
    assert done["status"] == "finished" and done["best_system_prompt"]


def test_unreachable_host_is_retried_then_stops_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    assert _optimize(tmp_path, f"openai-compatible:m@{url}") == 1
    err = capsys.readouterr().err
    assert f"{url}/chat/completions cannot be reached (ConnectError" in err, err
    assert "Traceback" not in err
    errors = show(tmp_path, "r")["provider_errors"]
    # 4 attempts (RetryPolicy) of the first task to fail (its siblings were cancelled)
    assert set(errors) == {"connection"} and errors["connection"] >= 4, errors
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert show(tmp_path, "r")["status"] == "in progress" and meta["checkpointer"] is None
    resumed = subprocess.run(  # a user resumes in a new process
        [sys.executable, "-m", "drpo.cli", "resume", "r", "--run-dir", str(tmp_path),
         "--models", "fake"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert show(tmp_path, "r")["status"] == "finished"
