"""Damaged or missing state files: one line naming the file, exit 2, the folder unchanged;
read commands write nothing; honest advice after a failure; model provenance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

from drpo.cli.main import main
from drpo.core.context import Context
from drpo.core.state import JudgeTask
from drpo.llm.judges import Verdict, dynamic_judge
from tests.conftest import STOP_AT, TINY
from tests.support.files import tree_digest
from tests.support.runs import comparable

Damage = Callable[[Path], None]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUN_DIR with a finished run 'done' and a run 'stopped' at its call budget (stage 2,
    level 1), both on the default shared store and LLM-call cache."""
    root = tmp_path_factory.mktemp("runs")
    args = ["optimize", "--run-dir", str(root), "--models", "fake", *TINY]
    assert main([*args, "--run-id", "stopped", "--max-calls", str(STOP_AT)]) == 3  # cold cache
    assert main([*args, "--run-id", "done"]) == 0
    return root


def _copy(runs: Path, tmp: Path) -> Path:
    root = tmp / "runs"
    shutil.copytree(runs, root)
    return root


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _ck(run: str, fn: Callable[[Path], None]) -> Damage:
    return lambda root: fn(root / run / "checkpoints.sqlite")


def _meta(run: str, text: str) -> Damage:
    return lambda root: (root / run / "run.json").write_text(text)


def _no_context(root: Path) -> None:
    meta = json.loads((root / "done" / "run.json").read_text())
    del meta["context"]
    (root / "done" / "run.json").write_text(json.dumps(meta))


CASES: dict[str, tuple[str, Damage, str, tuple[str, ...]]] = {
    # name: (run, damage, needle, commands that must fail)
    "checkpoints truncated": (
        "done",
        _ck("done", _truncate),
        "done/checkpoints.sqlite: the run's checkpoint database is damaged",
        ("show", "export", "resume"),
    ),
    "checkpoints emptied": (
        "done",
        _ck("done", lambda p: p.write_bytes(b"")),
        "done/checkpoints.sqlite: the run's checkpoint database is empty (0 bytes)",
        ("show", "export", "resume"),
    ),
    "checkpoints overwritten": (  # (export refuses a run in progress anyway)
        "stopped",
        _ck("stopped", lambda p: p.write_bytes(b"not a database at all" * 100)),
        "stopped/checkpoints.sqlite: the run's checkpoint database is not an SQLite database",
        ("show", "resume"),
    ),
    "finished run, checkpoints deleted": (
        "done",
        _ck("done", lambda p: p.unlink()),
        "done/checkpoints.sqlite: the run's checkpoint database is missing, but result.json "
        "records 'finished'",
        ("show", "export", "resume"),
    ),
    "stopped run, checkpoints deleted": (
        "stopped",
        _ck("stopped", lambda p: p.unlink()),
        f"is missing, but usage.jsonl records {STOP_AT} model calls",
        ("show", "resume"),
    ),
    "checkpoints of another run": (
        "done",
        lambda root: shutil.copy(
            root / "stopped" / "checkpoints.sqlite", root / "done" / "checkpoints.sqlite"
        ),
        "done/checkpoints.sqlite: holds no checkpoints of run 'done', but result.json",
        ("show", "export", "resume"),
    ),
    "store damaged": (
        "stopped",
        lambda root: (root / "store.sqlite").write_bytes(b"\0" * 4096),
        "store.sqlite: the store shared by the runs of this run dir is not an SQLite database",
        ("show", "resume"),  # it holds the level records (drpo/core/records.py)
    ),
    "store truncated": (
        "stopped",
        lambda root: _truncate(root / "store.sqlite"),
        "store.sqlite: the store shared by the runs of this run dir is damaged",
        ("show", "resume"),
    ),
    "call cache damaged": (
        "stopped",
        lambda root: (root / "llm_cache.sqlite").write_bytes(os.urandom(8192)),
        "llm_cache.sqlite: the LLM-call cache is not an SQLite database; move it away, or run "
        "with --llm-cache off",
        ("resume",),
    ),
    "run.json truncated": (
        "done",
        lambda root: (root / "done" / "run.json").write_text(
            (root / "done" / "run.json").read_text()[:120]
        ),
        "done/run.json: not valid JSON",
        ("show", "export", "resume"),
    ),
    "run.json without context": (
        "done",
        _no_context,
        "done/run.json: no 'context' object",
        ("show", "export", "resume"),
    ),
    "run.json a list": (
        "done",
        _meta("done", "[1, 2]"),
        "done/run.json: expected a JSON object",
        ("show", "export", "resume"),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(CASES))
def test_damaged_state_is_one_line_exit_2_and_changes_nothing(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run, damage, needle, commands = CASES[name]
    root = _copy(runs, tmp_path)
    damage(root)
    before = tree_digest(root)
    for command in ("show", "export", "resume") if run == "done" else ("show", "resume"):
        argv = [command, run, "--run-dir", str(root)]
        if command == "export":
            argv += ["-o", str(tmp_path / "pack.json")]
        code = main(argv)
        out = capsys.readouterr()
        if command in commands:
            lines = out.err.strip().splitlines()
            assert code == 2 and len(lines) == 1, (command, out.err)
            assert lines[0].startswith("drpo: error: ") and needle in lines[0], (command, out.err)
        else:  # a read command does not need the damaged file
            assert code == 0, (command, out.err)
        assert tree_digest(root) == before, f"{command} changed the run dir"
    assert not (tmp_path / "pack.json").exists() or "export" not in commands


def test_read_commands_write_nothing(runs: Path, tmp_path: Path) -> None:
    """show and export open the checkpoints read-only: no -wal/-shm file, no new database."""
    root = _copy(runs, tmp_path)
    before = tree_digest(root)
    for run in ("done", "stopped"):
        assert main(["show", run, "--run-dir", str(root), "--json"]) == 0
    assert main(["export", "done", "--run-dir", str(root), "-o", str(tmp_path / "p.json")]) == 0
    assert tree_digest(root) == before
    (root / "new").mkdir()  # a run created but never executed reads as not started
    shutil.copy(root / "done" / "run.json", root / "new" / "run.json")
    assert main(["show", "new", "--run-dir", str(root)]) == 0
    assert sorted(p.name for p in (root / "new").iterdir()) == ["run.json"]


def test_real_process_prints_one_line(runs: Path, tmp_path: Path) -> None:
    root = _copy(runs, tmp_path)
    _truncate(root / "done" / "checkpoints.sqlite")
    out = subprocess.run(
        [sys.executable, "-m", "drpo.cli", "show", "done", "--run-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_damaged_cache_is_set_aside_without_losing_the_run(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    (root / "llm_cache.sqlite").write_bytes(os.urandom(8192))
    assert main(["resume", "stopped", "--run-dir", str(root)]) == 2
    capsys.readouterr()
    assert main(["resume", "stopped", "--run-dir", str(root), "--llm-cache", "off",
                 "--max-calls", "1000"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["show", "done", "--run-dir", str(root), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(["show", "stopped", "--run-dir", str(root), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["status"] == "finished"
    for key in ("best_system_prompt", "best_reward", "levels", "icl_examples"):
        assert comparable(got)[key] == comparable(want)[key], key


def test_export_onto_a_directory(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    target = tmp_path / "out"
    target.mkdir()
    assert main(["export", "done", "--run-dir", str(root), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"drpo: error: -o {target}: is a directory; give a file name "
        f"(e.g. {target}/pack.json)"
    )
    assert list(target.iterdir()) == [] and not list(tmp_path.glob("*.tmp"))


async def damaging_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    """Deletes the run's checkpoint file (the process keeps writing into the deleted file),
    then fails."""
    marker = Path(os.environ["DRPO_TEST_DAMAGE"])
    if marker.exists():
        marker.unlink()
        marker.with_name("checkpoints.sqlite").unlink()
        raise RuntimeError("judge crashed")
    return await dynamic_judge(task, runtime)


def test_advice_after_a_failure_is_resume_only_when_it_can_succeed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "runs"
    base = ["optimize", "--run-dir", str(run_dir), "--models", "fake", *TINY, "--llm-cache",
            "off", "--judge-node", "tests.integration.test_state_files:damaging_judge"]  # fmt: skip
    (run_dir / "broken").mkdir(parents=True)
    monkeypatch.setenv("DRPO_TEST_DAMAGE", str(run_dir / "broken" / "marker"))
    (run_dir / "broken" / "marker").touch()
    assert main([*base, "--run-id", "broken"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == "drpo: run failed: RuntimeError: judge crashed"
    assert "cannot be read back" in err[-1] and "checkpoints.sqlite" in err[-1]
    assert "drpo resume" not in err[-1]
    # the same failure with intact checkpoints: resuming can succeed, and says so
    (run_dir / "fine").mkdir()
    monkeypatch.setenv("DRPO_TEST_DAMAGE", str(run_dir / "fine" / "missing-marker"))
    judge = "tests.integration.test_state_files:failing_judge"
    assert main([*base[:-1], judge, "--run-id", "fine"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"The run is saved; continue it with: drpo resume fine --run-dir {run_dir}"


async def failing_judge(task: JudgeTask, runtime: Runtime[Context]) -> Verdict:
    raise RuntimeError("judge crashed")
