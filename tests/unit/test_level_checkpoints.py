"""The checkpoint after each level in a run's summary: taken from the checkpoints the run streamed
as it made them (no history walk for a run made in one process), the same as `drpo show`'s walk
of the checkpoint history; a resumed run, whose first checkpoints another process made, walks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph.state import CompiledStateGraph

from drpo.cli.main import main
from tests.conftest import fake_context, fake_spec, run_once, show, small_config


def _level_ids(summary: dict[str, Any]) -> list[tuple[str, int, str]]:
    rows = [("system_prompt", r["level"], r["checkpoint_id"]) for r in summary["levels"]]
    rows += [("icl", r["level"], r["checkpoint_id"]) for r in summary["icl_levels"]]
    return rows


def test_a_run_in_one_process_reads_no_history(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[int] = []
    original = CompiledStateGraph.aget_state_history

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        walks.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledStateGraph, "aget_state_history", counted)
    result = run_once(tmp_path, "r", fake_context(fake_spec(log_path)), small_config())
    assert walks == []
    shown = show(tmp_path, "r")  # drpo show: walks the checkpoint history
    assert walks == [1]
    ids = _level_ids(result)
    assert len(ids) == 4 + 3 and all(cid for _, _, cid in ids)  # D=3 (+ level 0), icl D=2
    assert ids == _level_ids(shown)
    assert result["levels"] == shown["levels"] and result["icl_levels"] == shown["icl_levels"]


def test_a_resumed_run_finds_the_levels_the_first_process_closed(tmp_path: Path) -> None:
    args = ["--run-dir", str(tmp_path), "--models", fake_spec(tmp_path / "calls.jsonl")]
    search = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6",
              "-K", "0", "--select", "last-beam"]  # fmt: skip
    assert main(["optimize", "--run-id", "b", *args, *search, "--max-calls", "25"]) != 0
    assert main(["resume", "b", "--run-dir", str(tmp_path), "--max-calls", "1000"]) == 0
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    ids = _level_ids(result)
    assert ids == _level_ids(show(tmp_path, "b"))
    assert len(ids) == 4 + 3 and all(cid for _, _, cid in ids)


LEVEL_LINE = re.compile(r"^\[ *[\d.]+s\] (icl|system_prompt) level (\d+): .*; calls so far: (.*)$")


def _levels_reported(err: str) -> list[tuple[str, int]]:
    return [(m[1], int(m[2])) for line in err.splitlines() if (m := LEVEL_LINE.match(line))]


def test_progress_has_one_line_per_level_and_a_resume_repeats_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The progress line of a level is read from the checkpoint after its prune_beam; a
    resumed process reports only the levels it closes, with the run's calls so far."""
    search = ["--models", fake_spec(tmp_path / "calls.jsonl"), "--icl", "2", "--icl-D", "2",
              "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "0",
              "--select", "last-beam"]  # fmt: skip
    every = [("icl", t) for t in range(3)] + [("system_prompt", t) for t in range(4)]
    whole, stopped = str(tmp_path / "whole"), str(tmp_path / "stopped")  # no shared LLM cache
    assert main(["optimize", "--run-id", "a", "--run-dir", whole, *search]) == 0
    assert _levels_reported(capsys.readouterr().err) == every
    assert main(["optimize", "--run-id", "b", "--run-dir", stopped, *search, "--max-calls", "25"])
    first = capsys.readouterr().err
    assert main(["resume", "b", "--run-dir", stopped, "--max-calls", "1000"]) == 0
    second = capsys.readouterr().err
    assert 0 < len(_levels_reported(first)) < len(every)
    assert _levels_reported(first) + _levels_reported(second) == every
    last = [m for line in second.splitlines() if (m := LEVEL_LINE.match(line))][-1]
    counted = dict(item.rsplit(" ", 1) for item in last[3].split(", "))
    calls = show(Path(stopped), "b")["calls"]
    assert {k: int(v) for k, v in counted.items()} == calls
