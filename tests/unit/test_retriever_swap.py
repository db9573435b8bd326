"""The ICL retriever is a step you can swap, like the judge (``--retriever module:function``,
retrieval/retrievers.py): the retrieve_icl node calls it for every round of stage 2 (each level,
each race rung, each confirmation look), a fork can change it, and a bad one is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drpo.cli.main import main
from drpo.runtime.runner import Run
from tests.conftest import read_log, show
from tests.support.runs import comparable

ARGS = ["--icl", "3", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "3", "-K", "2",
        "--seeds", "20", "--validation", "4", "--confirm", "8"]  # fmt: skip
CUSTOM = "tests.custom_retriever"


def _optimize(tmp_path: Path, run_id: str, retriever: str) -> tuple[dict[str, Any], list[str]]:
    runs, log = tmp_path / "runs", tmp_path / f"{run_id}.jsonl"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", run_id, "--models",
            f"fake:log={log}", "--llm-cache", "off", *ARGS, "--retriever", retriever]  # fmt: skip
    assert main(argv) == 0
    generated = [r["key"] for r in read_log(log) if r["kind"] == "generate"]
    return show(runs, run_id), generated


def _asked(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_custom_retriever_serves_every_round_of_stage_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "retriever.jsonl"
    monkeypatch.setenv("DRPO_TEST_RETRIEVER_LOG", str(log))
    result, first = _optimize(tmp_path, "first", f"{CUSTOM}:first_k")
    asked = _asked(log)
    assert {a["retriever"] for a in asked} == {"first_k"} and {a["k"] for a in asked} == {2}
    rounds = [a["queries"] for a in asked]
    levels = [r["queries"] for r in result["levels"]]
    v = result["validation"]
    assert rounds[: len(levels)] == levels  # one call per level, with the level's queries
    raced = [q for qs in rounds[len(levels) :] for q in qs]
    assert raced == v["queries"] + v["confirmation"]["queries"]  # then each rung and look
    # the retrieved examples reach the base model: another retriever, other answers asked for
    _, last = _optimize(tmp_path, "last", f"{CUSTOM}:last_k")
    assert len(first) == len(last) and not set(first) & set(last)
    _, again = _optimize(tmp_path, "again", f"{CUSTOM}:first_k")
    assert again == first


def test_a_fork_swaps_the_retriever_from_its_level_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "retriever.jsonl"
    monkeypatch.setenv("DRPO_TEST_RETRIEVER_LOG", str(log))
    parent, _ = _optimize(tmp_path, "p", f"{CUSTOM}:first_k")
    log.unlink()
    runs = tmp_path / "runs"
    argv = ["fork", "p", "--level", "1", "--run-dir", str(runs), "--run-id", "f"]
    assert main([*argv, "--models", "fake", "--retriever", f"{CUSTOM}:last_k"]) == 0
    fork = show(runs, "f")
    asked = _asked(log)
    assert {a["retriever"] for a in asked} == {"last_k"}
    assert [a["queries"] for a in asked[:2]] == [r["queries"] for r in fork["levels"][2:4]]
    assert Run(runs, "f").load()[1].retriever == f"{CUSTOM}:last_k"
    assert comparable(fork)["levels"][:2] == comparable(parent)["levels"][:2]


@pytest.mark.parametrize(
    ("retriever", "message"),
    [
        ("nope", "unknown retriever 'nope': use faiss or module:function"),
        ("no_such_module_x:f", "cannot import retriever 'no_such_module_x:f'"),
        (f"{CUSTOM}:_log_nothing", "cannot import retriever"),
    ],
)
def test_a_bad_retriever_is_one_line_and_writes_nothing(
    tmp_path: Path, retriever: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["optimize", "--run-dir", str(runs), "--models", "fake",
                 "--retriever", retriever]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not runs.exists()


def test_a_retriever_that_breaks_its_contract_stops_the_run_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "b", "--models", "fake", *ARGS,
            "--retriever", f"{CUSTOM}:one_list_short"]  # fmt: skip
    assert main(argv) != 0
    assert "must return one list per query" in capsys.readouterr().err
