"""The human approval gate: interrupt after prune_beam, answered by `drpo answer` (Command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drpo.cli.main import main
from tests.conftest import show
from tests.support.runs import optimize

FAKE = ["--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "3", "--select", "last-beam"]


def _optimize(run_dir: Path, run_id: str, *extra: str) -> int:
    return optimize(run_dir, run_id, "fake", *FAKE, *extra)


def _answer(run_dir: Path, run_id: str, *args: str) -> int:
    return main(["answer", run_id, *args, "--run-dir", str(run_dir)])


def _level(result: dict[str, Any], level: int) -> dict[str, Any]:
    return next(r for r in result["records"]["system_prompt"] if r["level"] == level)


def test_gate_is_off_by_default(tmp_path: Path) -> None:
    assert _optimize(tmp_path, "plain") == 0
    assert show(tmp_path, "plain")["status"] == "finished"


def test_approve_edit_reject_resume_the_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _optimize(tmp_path, "g", "--approve") == 0
    out = capsys.readouterr().out
    result = show(tmp_path, "g")
    assert result["status"] == "waiting for approval"
    request = result["pending"][0]
    best1 = _level(result, 1)["beam"][0]
    assert request["level"] == 1 and request["best"]["text"] == best1["text"]
    assert "pending approval (level 1)" in out and "drpo answer g" in out
    assert [r["level"] for r in result["records"]["system_prompt"]] == [0, 1]  # stopped there

    # edit: the edited text is the best state that level 2 expands
    assert _answer(tmp_path, "g", "edit", "--text", "Be exact. Cite sources.") == 0
    result = show(tmp_path, "g")
    level2 = _level(result, 2)
    edited = [c for c in level2["candidates"] if c["parent"].endswith("+edit")]
    assert edited and all(c["text"].startswith("Be exact. Cite sources.") for c in edited)
    assert result["pending"][0]["level"] == 2

    # reject: level 2's best is dropped from the beam, so no level-3 child descends from it
    rejected = result["pending"][0]["best"]["id"]
    assert _answer(tmp_path, "g", "reject") == 0
    result = show(tmp_path, "g")
    parents = {c["parent"] for c in _level(result, 3)["candidates"]}
    assert parents and rejected not in parents

    assert _answer(tmp_path, "g", "approve") == 0
    result = show(tmp_path, "g")
    assert result["status"] == "finished" and not result["pending"]
    assert result["best_system_prompt"] == _level(result, 3)["beam"][0]["text"]


def test_reject_of_a_single_member_beam_restores_its_parent(tmp_path: Path) -> None:
    assert _optimize(tmp_path, "w1", "--approve", "-W", "1") == 0
    result = show(tmp_path, "w1")
    rejected = result["pending"][0]["best"]
    assert len(result["pending"][0]["beam"]) == 1
    assert _answer(tmp_path, "w1", "reject") == 0
    result = show(tmp_path, "w1")
    parents = {c["parent"] for c in _level(result, 2)["candidates"]}
    assert parents == {rejected["parent"]}  # level 2 expands the parent again


def test_bad_answers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _optimize(tmp_path, "done") == 0
    capsys.readouterr()
    assert _answer(tmp_path, "done", "approve") == 2
    assert capsys.readouterr().err.strip() == "drpo: error: run 'done' has no pending approval"
    assert _optimize(tmp_path, "p", "--approve") == 0
    capsys.readouterr()
    assert _answer(tmp_path, "p", "edit") == 2
    assert capsys.readouterr().err.strip() == "drpo: error: an edit needs the new prompt text"
    assert _answer(tmp_path, "nope", "approve") == 2
    meta = json.loads((tmp_path / "p" / "run.json").read_text())
    assert meta["context"]["approve"] is True
