"""Which models made a run: a finished run's models are never rewritten; a switch mid-run is
kept per role, with the stage and level it starts from, in run.json, `drpo show` and the pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import STOP_AT, TINY, read_log


def test_overrides_on_a_finished_run_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = str(tmp_path / "runs")
    assert main(["optimize", "--run-dir", run_dir, "--run-id", "r", "--models", "fake", *TINY]) == 0
    meta = (tmp_path / "runs" / "r" / "run.json").read_bytes()
    capsys.readouterr()
    for flags in (["--judge", "fake:latency_ms=1"], ["--models", "fake:latency_ms=1"]):
        assert main(["resume", "r", "--run-dir", run_dir, *flags]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("drpo: error: run 'r' has finished; --")
        assert (tmp_path / "runs" / "r" / "run.json").read_bytes() == meta
    # the same model as before is no override: "already finished", nothing written
    assert main(["resume", "r", "--run-dir", run_dir, "--judge", "fake"]) == 0
    assert "run r has already finished" in capsys.readouterr().err
    assert (tmp_path / "runs" / "r" / "run.json").read_bytes() == meta
    out = tmp_path / "pack.json"
    assert main(["export", "r", "--run-dir", run_dir, "-o", str(out)]) == 0
    pack = json.loads(out.read_text())
    assert set(pack["models"].values()) == {"fake"}
    assert pack["model_history"]["judge"] == [
        {"model": "fake", "from": {"stage": "icl", "level": 0}}
    ]


def test_a_switch_mid_run_is_kept_with_the_level_it_starts_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = str(tmp_path / "runs")
    first = ["optimize", "--run-dir", run_dir, "--run-id", "r", "--models", "fake", *TINY]
    assert main([*first, "--llm-cache", "off", "--max-calls", str(STOP_AT)]) == 3
    capsys.readouterr()
    assert main(["show", "r", "--run-dir", run_dir, "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    # stopped in stage 2 after its level 0 (see STOP_AT): level 1 is the first one resumed
    assert [row["level"] for row in before["levels"]] == [0] and before["icl_examples"]
    new_judge = f"fake:log={tmp_path / 'judge2.jsonl'}"
    assert main(["resume", "r", "--run-dir", run_dir, "--judge", new_judge, "--max-calls",
                 "1000"]) == 0  # fmt: skip
    capsys.readouterr()
    assert read_log(tmp_path / "judge2.jsonl")  # the new judge did make the later calls
    history = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["model_history"]
    assert [row["model"] for row in history["judge"]] == ["fake", new_judge]
    assert history["judge"][0]["from"] == {"stage": "icl", "level": 0}
    assert history["judge"][1]["from"] == {"stage": "system_prompt", "level": 1}
    assert all(len(history[role]) == 1 for role in ("base", "optimizer", "selector"))
    assert main(["show", "r", "--run-dir", run_dir]) == 0
    text = capsys.readouterr().out
    assert "models switched during the run:" in text
    assert f"judge: fake (from icl level 0), then {new_judge} (from system_prompt level 1)" in text
    assert main(["show", "r", "--run-dir", run_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_history"] == history
    out = tmp_path / "pack.json"
    assert main(["export", "r", "--run-dir", run_dir, "-o", str(out)]) == 0
    pack = json.loads(out.read_text())
    assert pack["model_history"] == history and pack["models"]["judge"] == new_judge
