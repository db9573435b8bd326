"""Bad input on the command line: one clear line on stderr, exit 2, no traceback, and no run
directory or file changed (an existing run is fingerprinted before and after every case)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import fake_context, fake_spec, run_once
from tests.support.files import tree_digest

SMALL = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "--seeds", "1", "-K", "1"]
Files = Callable[[Path], list[str]]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _config(tmp: Path, data: object) -> list[str]:
    return ["--config", _write(tmp / "config.json", json.dumps(data))]


def _icl(tmp: Path, text: str, name: str = "icl.json") -> list[str]:
    return _config(tmp, {"icl_path": _write(tmp / name, text)})


def _seeds(tmp: Path, alpaca: object, lima: object, redteam: str) -> list[str]:
    folder = tmp / "seeds"
    folder.mkdir()
    _write(folder / "seed_alpaca.json", json.dumps(alpaca))
    _write(folder / "seed_lima.json", json.dumps(lima))
    _write(folder / "seed_redteam.txt", redteam)
    return _config(tmp, {"seed_dir": str(folder)})


PAIR = [{"query": "q1", "response": "r1"}, {"query": "q2", "response": "r2"}]
CASES: dict[str, tuple[Files, str]] = {
    "config not JSON": (lambda t: ["--config", _write(t / "c.json", "{nope")], "--config"),
    "config missing": (lambda t: ["--config", str(t / "none.json")], "No such file"),
    "config unknown key": (lambda t: _config(t, {"beam": 3}), "invalid config: beam"),
    "config wrong type": (lambda t: _config(t, {"icl": {"W": "wide"}}), "invalid config: icl.W"),
    "config not an object": (lambda t: _config(t, [1, 2]), "expected a JSON object"),
    "config icl null": (
        lambda t: _config(t, {"icl": None}),
        "invalid config: icl: expected an object, got null (--config",
    ),
    "config icl null with flag": (
        lambda t: [*_config(t, {"icl": None}), "--icl-W", "2"],
        "invalid config: icl: expected an object, got null",
    ),
    "config system_prompt list": (
        lambda t: _config(t, {"system_prompt": [1]}),
        "invalid config: system_prompt: expected an object, got list",
    ),
    "config sampling string": (
        lambda t: _config(t, {"sampling": "hot"}),
        "invalid config: sampling: expected an object, got str",
    ),
    "config bool for B": (  # B is not among the flags of these cases (they would win)
        lambda t: _config(t, {"system_prompt": {"B": True}}),
        "invalid config: system_prompt.B: Input should be a valid integer",
    ),
    "config bool for icl W": (
        lambda t: _config(t, {"icl": {"W": True}}),
        "invalid config: icl.W: Input should be a valid integer",
    ),
    "config string for seed": (
        lambda t: _config(t, {"seed": "3"}),
        "invalid config: seed: Input should be a valid integer",
    ),
    "config bool temperature": (
        lambda t: _config(t, {"sampling": {"base_temperature": False}}),
        "invalid config: sampling.base_temperature: Input should be a valid number",
    ),
    "icl malformed JSON": (lambda t: _icl(t, '[{"query": "q"'), "not valid JSON"),
    "icl missing field": (
        lambda t: _icl(t, json.dumps([{"query": "q"}])),
        "icl.json: entry [0]: 'response': Field required",
    ),
    "icl empty": (lambda t: _icl(t, "[]"), "no ICL examples"),
    "icl duplicate ids": (
        lambda t: _icl(t, json.dumps([PAIR[0], PAIR[0]])),
        "duplicate queries",
    ),
    "icl wrong types": (
        lambda t: _icl(t, json.dumps([{"query": 1, "response": 2}])),
        "icl.json: entry [0]: 'query': Input should be a valid string (got int)",
    ),
    "icl null response": (
        lambda t: _icl(t, json.dumps([PAIR[0], {"query": "q2", "response": None}])),
        "entry [1]: 'response': Input should be a valid string (got null)",
    ),
    "icl dict form number": (
        lambda t: _icl(t, json.dumps({"q1": "r1", "q2": 5})),
        "entry [1]: 'response': Input should be a valid string (got int)",
    ),
    "icl blank query": (
        lambda t: _icl(t, json.dumps([{"query": "  ", "response": "r"}])),
        "entry [0]: 'query': String should have at least 1 character",
    ),
    "icl jsonl malformed line": (
        lambda t: _icl(t, json.dumps(PAIR[0]) + "\n{broken\n", "icl.jsonl"),
        "line 2: not valid JSON",
    ),
    "icl jsonl duplicate": (
        lambda t: _icl(t, json.dumps(PAIR[0]) + "\n" + json.dumps(PAIR[0]) + "\n", "i.jsonl"),
        "duplicate queries",
    ),
    "seeds empty": (lambda t: _seeds(t, [], [], ""), "no seed queries"),
    "seeds missing field": (
        lambda t: _seeds(t, [{"input": "x"}], [], ""),
        "seed_alpaca.json: entry [0]: 'instruction': Field required",
    ),
    "seeds null instruction": (
        lambda t: _seeds(t, [{"instruction": "fine"}, {"instruction": None}], [], ""),
        "seed_alpaca.json: entry [1]: 'instruction': Input should be a valid string (got null)",
    ),
    "seeds number instruction": (
        lambda t: _seeds(t, [{"instruction": 123}], [], ""),
        "seed_alpaca.json: entry [0]: 'instruction': Input should be a valid string (got int)",
    ),
    "seeds object instruction": (
        lambda t: _seeds(t, [{"instruction": {"a": 1}}], [], ""),
        "seed_alpaca.json: entry [0]: 'instruction': Input should be a valid string (got dict)",
    ),
    "seeds lima not a list": (
        lambda t: _seeds(t, [{"instruction": "ok"}], {"query": "x"}, ""),
        "seed_lima.json: expected a list",
    ),
    "seeds lima entry not an object": (
        lambda t: _seeds(t, [], ["just text"], ""),
        "seed_lima.json: entry [0]: Input should be a valid dictionary",
    ),
    "seeds missing file": (
        lambda t: _config(t, {"seed_dir": str(t / "nowhere")}),
        "file not found",
    ),
    "K larger than pool": (lambda t: ["-K", "3", "--icl", "2"], "K=3 is larger than the ICL pool"),
    "K larger than file": (
        lambda t: [*_icl(t, json.dumps(PAIR)), "-K", "3", "--icl", "5"],
        "K=3 is larger than the ICL pool (2)",
    ),
    "W zero": (lambda t: ["-W", "0"], "system_prompt.W"),
    "M negative": (lambda t: ["-M", "-2"], "system_prompt.M"),
    "D zero": (lambda t: ["-D", "0"], "system_prompt.D"),
    "icl D zero": (lambda t: ["--icl-D", "0"], "icl.D"),
    "B zero": (lambda t: ["-B", "0"], "system_prompt.B"),
    "seeds zero": (lambda t: ["--seeds", "0"], "system_prompt.seeds"),
    "W not a number": (lambda t: ["-W", "two"], "invalid int value"),
    "unknown model spec": (lambda t: ["--judge", "gpt-9"], "unknown model spec 'gpt-9'"),
    "unknown local model": (lambda t: ["--base", "local:llama-70b"], "unknown local model"),
    "bad fake option": (lambda t: ["--models", "fake:speed=9"], "bad fake option"),
    "compatible without url": (lambda t: ["--judge", "openai-compatible:m"], "MODEL@http"),
    "unknown judge node": (lambda t: ["--judge-node", "nope"], "unknown judge 'nope'"),
    "unknown reward": (lambda t: ["--reward", "best"], "invalid choice"),
    "bad checkpointer": (lambda t: ["--checkpointer", "redis://x"], "expected postgresql://"),
    "existing run id": (lambda t: ["--run-id", "done"], "already exists"),
    "bad run id": (lambda t: ["--run-id", "../up"], "invalid run id"),
}


@pytest.fixture()
def existing(tmp_path: Path) -> Path:
    """A finished run in the run dir: it must never change."""
    run_dir = tmp_path / "runs"
    run_once(
        run_dir,
        "done",
        fake_context(fake_spec(tmp_path / "l.jsonl")),
        {"icl": {"n": 1, "D": 1}, "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 1}},
    )
    return run_dir


def test_every_bad_input_is_one_line_exit_2(
    tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, names = tree_digest(existing), sorted(p.name for p in existing.iterdir())
    failures = []
    for name, (make, needle) in CASES.items():
        case_dir = tmp_path / name.replace(" ", "_")
        case_dir.mkdir()
        argv = ["optimize", "--run-dir", str(existing), "--models", "fake", *SMALL, *make(case_dir)]
        if "--run-id" not in argv:
            argv += ["--run-id", "new"]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        if not (code == 2 and len(lines) == 1 and needle in err and "Traceback" not in err):
            failures.append(f"{name}: exit {code}, stderr {err!r}")
        if not err.startswith("drpo"):
            failures.append(f"{name}: message does not start with the program name: {err!r}")
    assert not failures, "\n".join(failures)
    assert tree_digest(existing) == before
    assert sorted(p.name for p in existing.iterdir()) == names  # no new run dir either


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["resume"], "the following arguments are required: run_id"),
        (["resume", "missing"], "no run 'missing'"),
        (["show", "missing"], "no run 'missing'"),
        (["export", "missing", "-o", "p.json"], "no run 'missing'"),
        (["resume", "done", "--judge", "nope:"], "unknown model spec"),
        (["optimize", "--run-dir", "x", "--models"], "expected one argument"),
        (["frobnicate"], "invalid choice"),
        ([], "the following arguments are required: command"),
    ],
)
def test_other_commands(
    existing: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    before = tree_digest(existing)
    try:
        known = argv[:1] in (["resume"], ["show"], ["export"], ["optimize"])
        code = main([*argv, "--run-dir", str(existing)] if known and argv[1:2] != [] else argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert tree_digest(existing) == before


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path / "icl.jsonl", '{"query": "q", "response": "r"}\n[1, 2\n')
    cfg = _write(tmp_path / "c.json", json.dumps({"icl_path": bad}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for argv in (
        ["optimize", "--config", cfg, "--models", "fake", "--run-dir", str(tmp_path)],
        ["resume", "--run-dir", str(tmp_path)],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "drpo.cli", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "icl.jsonl"]
