"""Attacks on a run's files (issue 21): an export never clobbers, a fork is atomic (killed or
failed, it leaves nothing or a fork), a damaged write-ahead log is never "finished", `drpo show`
handles a run stopped mid-validation or mid-confirmation, a damaged usage file, a closed pipe.
Every refusal is exit 2 with one line, and the run dir is byte for byte as it was."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drpo.cli.main import main
from drpo.llm.usage import Usage
from tests.conftest import ENV, ROOT, read_log
from tests.support.files import tree_digest
from tests.support.runs import comparable

# a tiny search with validation and confirmation; the judge of system prompts makes no call and
# fails on purpose on the queries of the phase $DRPO_TEST_FAIL_PHASE names (tests/custom_judge.py)
ARGS = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "-K", "1", "--seeds",
        "8", "--validation", "2", "--confirm", "2", "--judge-node",
        "tests.custom_judge:failing_phase_judge", "--llm-cache", "off"]  # fmt: skip


def _drpo(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", *args], cwd=ROOT, env=ENV, text=True, **kw
    )  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """'done' (finished), 'mid-validation' and 'mid-confirmation' (a judge failed there), and
    'k', killed (kill -9) mid-search: its checkpoints and the shared store keep their -wal."""
    root = tmp_path_factory.mktemp("attack") / "runs"
    base = ["optimize", "--run-dir", str(root), "--models", "fake", *ARGS, "--run-id"]
    assert main([*base, "done"]) == 0  # then aspect selections come from the store
    for phase in ("validation", "confirmation"):
        os.environ["DRPO_TEST_FAIL_PHASE"] = phase
        try:
            assert main([*base, f"mid-{phase}"]) == 1  # failed: saved, resumable
        finally:
            del os.environ["DRPO_TEST_FAIL_PHASE"]
    log, hold = root.parent / "k.jsonl", root.parent / "k.hold"
    spec = f"fake:latency_ms=30,log={log},hold={hold}"
    more = ["-D", "4", "-M", "2", "--seeds", "12", "--run-id", "k"]
    proc = _drpo(*base[:4], spec, *ARGS[:-2], *more, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    wal = root / "k" / "checkpoints.sqlite-wal"
    while len(read_log(log)) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    hold.write_text("")  # no call ends from here: the run stays mid-search, however loaded
    # a checkpoint written (under load the calls can come before it)
    while not wal.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed mid-search"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    hold.unlink()  # a resume of 'k' runs on
    assert (root / "k" / "checkpoints.sqlite-wal").exists()
    return root


def _copy(runs: Path, tmp: Path) -> Path:
    shutil.copytree(runs, tmp / "runs")
    return tmp / "runs"


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("drpo: error: "), (code, err)
    assert all(n in err[0] for n in needles), err[0]
    return err[0]


def test_export_never_clobbers(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    (tmp_path / "out").mkdir()
    existing = tmp_path / "out" / "existing.json"
    existing.write_text("mine")
    before, outside = tree_digest(root), tree_digest(tmp_path / "out")
    cases = [
        (root / "done" / "run.json", [], "is inside"),
        (root / "done" / "run.json", ["--force"], "is inside"),
        (root / "done" / "pack.json", [], "a folder of the run dir"),
        (root / "k" / "new.json", [], "a folder of the run dir"),
        (root / "store.sqlite", ["--force"], "is a state file of the run dir"),
        (root / "llm_cache.sqlite-wal", [], "is a state file of the run dir"),
        (tmp_path / "missing" / "pack.json", [], "does not exist; create it first"),
        (existing, [], "the file exists; use --force"),
    ]
    for out, extra, needle in cases:
        argv = ["export", "done", "--run-dir", str(root), "-o", str(out), *extra]
        _refused(argv, capsys, f"-o {out}: ", needle)
        assert tree_digest(root) == before and tree_digest(tmp_path / "out") == outside, out
    assert not (tmp_path / "missing").exists()
    # an output of its own is written whole, then replaced only with --force
    pack = tmp_path / "out" / "pack.json"
    assert main(["export", "done", "--run-dir", str(root), "-o", str(pack)]) == 0
    _refused(["export", "done", "--run-dir", str(root), "-o", str(pack)], capsys, "--force")
    assert main(["export", "done", "--run-dir", str(root), "-o", str(existing), "--force"]) == 0
    assert json.loads(existing.read_text()) == {**json.loads(pack.read_text()), "created": ANY}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["existing.json", "pack.json"]
    # reading (mode=ro) a database whose killed writer left its log updates the -shm index
    assert tree_digest(root, skip="-shm") == tree_digest(runs, skip="-shm")
    assert tree_digest(root) == before | {
        n: d for n, d in tree_digest(root).items() if n.endswith("-shm")
    }


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()


@pytest.mark.parametrize("run", ["mid-validation", "mid-confirmation"])
def test_show_a_run_stopped_between_validation_and_the_final_choice(
    runs: Path, capsys: pytest.CaptureFixture[str], run: str
) -> None:
    # (reading 'k's store, left by a killed writer, marks its -shm)
    before = tree_digest(runs, skip="-shm")
    assert main(["show", run, "--run-dir", str(runs), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "in progress" and set(result["next"]) == {"judge"}
    assert main(["show", run, "--run-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {run}: in progress") and "LLM calls per role" in out
    if run == "mid-confirmation":  # validated, P* not chosen: the confirmation is under way
        assert result["validation"]["confirmation"] is None
        assert "chosen" not in result["validation"]
        assert "P* is not chosen yet: the confirmation on fresh queries has not finished" in out
    else:
        assert result["validation"] is None
    assert tree_digest(runs, skip="-shm") == before


def _wal(root: Path) -> Path:
    return root / "k" / "checkpoints.sqlite-wal"


def _garble(path: Path, at: int) -> None:
    with path.open("r+b") as f:
        f.seek(at)
        f.write(b"garbage" * 3)


WAL_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (
        lambda r: os.truncate(_wal(r), _wal(r).stat().st_size // 2),
        "the file was truncated",
    ),
    "truncated into its header": (lambda r: os.truncate(_wal(r), 20), "is truncated (20 bytes)"),
    "garbled frame": (lambda r: _garble(_wal(r), 32 + 4120 * 5 + 100), "fails its checksum"),
    "garbled header": (lambda r: _garble(_wal(r), 4), "the header of checkpoints.sqlite-wal"),
    "deleted": (lambda r: _wal(r).unlink(), "has lost its write-ahead log"),
    "deleted with its index": (
        lambda r: [_wal(r).unlink(), _wal(r).with_name("checkpoints.sqlite-shm").unlink()],
        "holds no checkpoints, but usage.jsonl records",
    ),
}


@pytest.mark.parametrize("damage", list(WAL_DAMAGE))
def test_a_damaged_wal_is_an_error_never_finished(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    root = _copy(runs, tmp_path)
    assert main(["show", "k", "--run-dir", str(root)]) == 0  # intact: in progress
    assert capsys.readouterr().out.startswith("run k: in progress")
    harm, needle = WAL_DAMAGE[damage]
    harm(root)
    before = tree_digest(root)
    for command in ("show", "resume"):
        line = _refused([command, "k", "--run-dir", str(root)], capsys, needle)
        assert f"{root / 'k' / 'checkpoints.sqlite'}: the run's checkpoint database " in line
        assert "restore the file and its -wal from a backup" in line
        assert tree_digest(root) == before, command


def test_a_fork_killed_at_its_first_moment_leaves_nothing_and_forks_again(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    parent = tree_digest(root / "done")
    aside = root / ".fork-f" / "f" / "run.json"
    proc = _drpo("fork", "done", "--level", "1", "--run-dir", str(root), "--run-id", "f",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not aside.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)  # as soon as the fork's run.json exists
    assert proc.wait(timeout=60) == -signal.SIGKILL and aside.exists()
    assert not (root / "f").exists() and tree_digest(root / "done") == parent
    assert [p.parent.name for p in root.glob("*/run.json") if p.parent.name == "f"] == []
    _refused(["show", "f", "--run-dir", str(root)], capsys, "no run 'f'")
    _refused(["resume", "f", "--run-dir", str(root)], capsys, "no run 'f'")
    # forking again with that id builds it anew, and it is the fork it was asked to be
    assert main(["fork", "done", "--level", "1", "--run-dir", str(root), "--run-id", "f"]) == 0
    capsys.readouterr()
    assert not (root / ".fork-f").exists() and tree_digest(root / "done") == parent
    assert main(["show", "f", "--run-dir", str(root), "--json"]) == 0
    fork = json.loads(capsys.readouterr().out)
    assert main(["show", "done", "--run-dir", str(root), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert fork["status"] == "finished" and fork["forked_from"]["run_id"] == "done"
    assert comparable(fork)["levels"] == comparable(done)["levels"]  # D=1: levels 0, 1 copied
    assert fork["calls"]["optimizer"] == done["calls"]["optimizer"]  # stage 1 not made again


def test_a_failed_fork_leaves_nothing_and_never_writes_the_parents_files(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    fork = ["fork", "done", "--level", "1", "--run-dir", str(root), "--run-id", "f"]
    (root / "store.sqlite-wal").unlink()  # the log of a killed writer, deleted: -shm is left
    before = tree_digest(root)
    _refused(fork, capsys, f"{root / 'store.sqlite'}: the store shared", "write-ahead log")
    assert tree_digest(root) == before
    root = _copy(runs, tmp_path / "cache")
    (root / "llm_cache.sqlite").write_bytes(os.urandom(8192))  # the cache 'k' runs with
    before = tree_digest(root)
    fork = ["fork", "k", "--stage", "icl", "--level", "0", "--run-dir", str(root)]
    _refused(fork, capsys, "llm_cache.sqlite: the LLM-call cache is not an SQLite database")
    assert tree_digest(root) == before


def test_a_damaged_usage_file_is_named_and_a_torn_last_line_tolerated(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(runs, tmp_path)
    usage = root / "done" / "usage.jsonl"
    assert main(["show", "done", "--run-dir", str(root), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)["usage"]
    lines = usage.read_text().splitlines(keepends=True)
    usage.write_text("".join([lines[0], '{"role": "base", "calls": 1\n', *lines[1:]]))
    before = tree_digest(root)
    for command in ("show", "resume"):
        _refused([command, "done", "--run-dir", str(root)], capsys, f"{usage}: line 2 ")
        assert tree_digest(root) == before
    usage.write_text("".join(lines) + '{"role": "base", "cal')  # killed mid-write
    assert main(["show", "done", "--run-dir", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["usage"] == want  # every whole line counted
    writer = Usage(usage)  # the next write cuts the torn line first: the file stays readable
    writer.add("base", calls=1)
    writer.close()
    assert usage.read_text() == "".join(lines) + '{"role": "base", "calls": 1}\n'


def test_a_closed_pipe_ends_show_quietly(runs: Path) -> None:
    proc = _drpo("show", "done", "--run-dir", str(runs), "--json",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # `drpo show X | head`: the reader is gone before the first write
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == "", err
