"""Replies that are not answers, from an OpenAI-like server: cut at the token cap
(finish_reason=length), refused, a tool call with invalid arguments, empty or garbage content.
Each is classified, counted in ``drpo show``, re-sampled (a cut reply with twice the cap), and
never scored; a reply cut twice stops the run with an error naming the call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drpo.core.config import Sampling
from tests.conftest import SMALL, fresh_clients, fresh_provider, show
from tests.openai_server import OpenAIServer, cap_of, method_of
from tests.support.runs import optimize


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fresh_provider(monkeypatch, "5")


def _optimize(runs: Path, spec: str, *extra: str) -> int:
    return optimize(runs, "n", spec, *SMALL, *extra)


def _run_against(tmp_path: Path, server: OpenAIServer) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        assert _optimize(tmp_path / "f", f"openai-compatible:fake@{server.url}") == 0
    finally:
        server.shutdown()
    fresh_clients()
    assert _optimize(tmp_path / "c", "fake") == 0
    return show(tmp_path / "f", "n"), show(tmp_path / "c", "n")


def test_cut_replies_are_resampled_once_with_twice_the_cap(tmp_path: Path) -> None:
    assert Sampling().json_max_tokens == Sampling().base_max_tokens == 2048  # issue 12's caps
    # cut only at the first cap, never at twice it; JSON replies and answers alike
    server = OpenAIServer({"length": 0.3}, cut_cap=2048, deadline_s=300).start()
    faulty, clean = _run_against(tmp_path, server)
    cut = server.stats["length"]
    assert cut >= 3, server.stats
    # re-sampled, never scored: the same calls as without faults, every level scored
    assert faulty["status"] == "finished" and faulty["calls"] == clean["calls"]
    assert all(row["best_reward"] is not None for row in faulty["levels"])
    assert faulty["provider_errors"] == {"truncated reply": cut}
    doubled = [b for b in server.requests if cap_of(b) == 4096]
    assert len(doubled) == cut and {cap_of(b) for b in server.requests} == {2048, 4096}
    assert {method_of(b) for b in doubled} == {None, "json_schema"}  # answers and JSON
    # a re-sample: another seed, temperature at least 0.7
    assert all(b.get("seed") is not None and b["temperature"] >= 0.7 for b in doubled)


def test_non_answers_are_classified_counted_and_resampled(tmp_path: Path) -> None:
    rates = {"length": 0.1, "refusal": 0.1, "bad_args": 0.1, "empty": 0.05, "garbage": 0.05}
    # tools only: every JSON reply is a tool call
    server = OpenAIServer(rates, formats=("tools",), cut_cap=2048, deadline_s=300).start()
    faulty, clean = _run_against(tmp_path, server)
    stats = server.stats
    assert all(stats[k] for k in rates), stats
    # each non-answer was re-sampled, none was scored
    assert faulty["status"] == "finished" and faulty["calls"] == clean["calls"]
    assert all(row["best_reward"] is not None for row in faulty["levels"])
    assert faulty["provider_errors"] == {
        "truncated reply": stats["length"],
        "refusal": stats["refusal"],
        "invalid tool arguments": stats["bad_args"],
        "empty reply": stats["empty"],
        "unparsable reply": stats["garbage"],
        "json_schema rejected": 1,
    }


def test_a_reply_cut_twice_stops_the_run_naming_the_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = OpenAIServer({"length": 1.0}, max_streak=10, deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    try:
        assert _optimize(tmp_path, spec, "--max-concurrency", "1") == 1
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert "drpo: run failed: select_aspects for query" in err, err
    assert "the reply was cut at its token cap twice (finish_reason=length, last cap 4096)" in err
    assert "drpo resume n" in err and "Traceback" not in err
    caps = [cap_of(b) for b in server.requests if method_of(b) == "json_schema"]
    assert caps[:2] == [2048, 4096]
    # compatible servers get the cap as max_tokens too (llama.cpp ignores max_completion_tokens)
    assert all(b["max_tokens"] == b["max_completion_tokens"] for b in server.requests)
    assert show(tmp_path, "n")["provider_errors"] == {"truncated reply": 1}
    meta = json.loads((tmp_path / "n" / "run.json").read_text())
    assert meta["context"]["structured_used"] == {spec: "json_schema"}
