"""The checkpoint after each level in a run's summary: taken from the checkpoints the run streamed
as it made them (no history walk for a run made in one process), the same as `drpo show`'s walk
of the checkpoint history; a resumed run, whose first checkpoints another process made, walks."""

from __future__ import annotations

import json
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
