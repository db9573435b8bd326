"""Values that used to get through validation (issue 21): NaN, inf, integers beyond 64 bits,
bounds that hang the estimate, bad model-spec options, empty strings, unsafe run ids, a file as
run dir, deeply nested JSON, oversized prompts and ICL texts, bad alignment packs. Each one is
one line on stderr, exit 2, no traceback, and nothing written: the run dir (with a finished run
in it) and the case's folder are fingerprinted before and after."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from drpo.cli.main import main
from tests.conftest import fake_context, run_once
from tests.http_probe import tree_digest

SMALL = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "--seeds", "1", "-K", "1"]
BIG = str(2**64)
Make = Callable[[Path], list[str]]
PACK = {
    "format": "drpo-alignment-pack/1",
    "system_prompt": "Be kind.",
    "icl_examples": [{"query": "q1", "response": "r1"}, {"query": "q2", "response": "r2"}],
    "K": 1,
    "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
}


def _file(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _config(data: object) -> Make:
    return lambda t: ["--config", _file(t / "config.json", json.dumps(data))]


def _icl(rows: object) -> Make:
    return lambda t: _config({"icl_path": _file(t / "icl.json", json.dumps(rows))})(t)


def _seeds(alpaca: object, redteam: str = "") -> Make:
    def make(t: Path) -> list[str]:
        (t / "seeds").mkdir()
        _file(t / "seeds" / "seed_alpaca.json", json.dumps(alpaca))
        _file(t / "seeds" / "seed_lima.json", "[]")
        _file(t / "seeds" / "seed_redteam.txt", redteam)
        return _config({"seed_dir": str(t / "seeds")})(t)

    return make


def _args(*argv: str) -> Make:
    return lambda t: [a.replace("TMP", str(t)) for a in argv]


def _pack(**changes: object) -> Make:
    data = {k: v for k, v in {**PACK, **changes}.items() if v != "DROP"}
    return lambda t: [_file(t / "pack.json", json.dumps(data))]


OPTIMIZE: dict[str, tuple[Make, str]] = {
    # numbers: NaN, inf, negative, beyond 64 bits, bounds that made the dry-run estimate hang
    "rps nan": (_args("--rps", "nan"), "--rps must be positive (at most 1e+06), got"),
    "rps inf": (_args("--rps", "inf"), "--rps must be positive (at most 1e+06), got"),
    "rps negative": (_args("--rps", "-1"), "--rps must be positive (at most 1e+06), got"),
    "max-usd nan": (_args("--max-usd", "nan"), "--max-usd must be positive (at most 1e+09), got"),
    "max-usd inf": (_args("--max-usd", "inf"), "--max-usd must be positive (at most 1e+09), got"),
    "max-calls 2^64": (_args("--max-calls", BIG), "--max-calls must be from 1 to"),
    "max-tokens 2^64": (_args("--max-tokens", BIG), "--max-tokens must be from 1 to"),
    "max-concurrency huge": (_args("--max-concurrency", "100000"), "--max-concurrency"),
    "price nan": (_args("--price", "judge=nan/nan"), "--price 'judge=nan/nan'"),
    "price inf": (_args("--price", "judge=inf/1"), "--price 'judge=inf/1'"),
    "seed 2^64": (_args("--seed", BIG), "invalid config: seed: Input should be less than"),
    "seed -2^64": (_args("--seed", "-" + BIG), "invalid config: seed: Input should be greater"),
    "D 1e12 dry run": (_args("-D", "1000000000000", "--dry-run"), "system_prompt.D: Input"),
    "W 1e20": (_args("-W", "100000000000000000000"), "system_prompt.W: Input should be less"),
    "M 101": (_args("-M", "101"), "system_prompt.M: Input should be less than or equal to 100"),
    "K 101": (_args("-K", "101"), "system_prompt.K: Input should be less than or equal to 100"),
    "B 1e6": (_args("-B", "1000000"), "system_prompt.B: Input should be less"),
    "seeds 2^64": (_args("--seeds", BIG), "system_prompt.seeds: Input should be less"),
    "validation 2^64": (_args("--validation", BIG), "system_prompt.validation"),
    "confirm 2^64": (_args("--confirm", BIG), "system_prompt.confirm"),
    "icl D 1001": (_args("--icl-D", "1001"), "icl.D: Input should be less than or equal to 1000"),
    "icl 2^64": (_args("--icl", BIG), "icl.n: Input should be less"),
    "config seed 2^70": (_config({"seed": 2**70}), "invalid config: seed"),
    "config shuffle seed": (_config({"system_prompt": {"shuffle_seed": 2**64}}), "shuffle_seed"),
    "config temperature 1e400": (
        lambda t: ["--config", _file(t / "c.json", '{"sampling": {"base_temperature": 1e400}}')],
        "sampling.base_temperature: Input should be a finite number",
    ),
    "config NaN": (
        lambda t: ["--config", _file(t / "c.json", '{"sampling": {"judge_temperature": NaN}}')],
        "NaN is not a JSON number",
    ),
    "config temperature 5": (_config({"sampling": {"base_temperature": 5}}), "less than or equal"),
    "config max tokens 1e30": (_config({"sampling": {"base_max_tokens": 10**30}}), "max_tokens"),
    "config 100000 nested arrays": (
        lambda t: ["--config", _file(t / "c.json", "[" * 100_000 + "]" * 100_000)],
        "JSON nested deeper than 32 levels",
    ),
    "config icl_path empty": (_config({"icl_path": ""}), "icl_path: String should have at least"),
    # sizes
    "initial prompt 5 MB": (
        _config({"system_prompt": {"initial_prompt": "x" * 5_000_000}}),
        "initial_prompt: String should have at most 32768 characters",
    ),
    "icl response 2 MB": (
        _icl([{"query": "q", "response": "r" * 2_000_000}]),
        "entry [0]: 'response': String should have at most 16384 characters",
    ),
    "icl query 17 KiB": (
        _icl([{"query": "q" * 17_000, "response": "r"}]),
        "entry [0]: 'query': String should have at most 16384 characters",
    ),
    "icl file nested": (
        lambda t: _config({"icl_path": _file(t / "i.json", "[" * 40 + "]" * 40)})(t),
        "i.json: JSON nested deeper than 32 levels",
    ),
    "seed query 17 KiB": (_seeds([{"instruction": "s" * 17_000}]), "at most 16384 characters"),
    "red-team line 17 KiB": (
        _seeds([{"instruction": "ok"}], "fine\n" + "x" * 17_000 + "\n"),
        "seed_redteam.txt: line 2: seed query is 17000 characters",
    ),
    # model spec options
    "latency inf": (_args("--models", "fake:latency_ms=inf"), "--models: latency_ms must be a"),
    "latency nan": (_args("--judge", "fake:latency_ms=nan"), "--judge: latency_ms must be a"),
    "latency abc": (_args("--models", "fake:latency_ms=abc"), "latency_ms='abc' is not a number"),
    "latency negative": (_args("--models", "fake:latency_ms=-1"), "latency_ms must be"),
    "malformed 2": (_args("--models", "fake:malformed_rate=2"), "malformed_rate must be"),
    "malformed nan": (_args("--models", "fake:malformed_rate=nan"), "malformed_rate must be"),
    "log missing folder": (
        _args("--models", "fake:log=TMP/missing/calls.jsonl"),
        "/missing' does not exist",
    ),
    "events missing folder": (_args("--judge", "fake:events=TMP/no/e.jsonl"), "does not exist"),
    "log is a folder": (_args("--models", "fake:log=TMP"), "expected a file path"),
    "sim noise nan": (_args("--models", "sim:world=improve,noise=nan"), "bad sim spec"),
    "compatible NaN field": (
        _args("--judge", "openai-compatible:m@http://127.0.0.1:9/v1,temperature=NaN"),
        "NaN is not a finite JSON number",
    ),
    "spec 3000 characters": (_args("--judge", "fake" + "," * 3000), "at most 2000"),
    # empty strings are errors, not defaults
    **{
        f"empty {flag}": (_args(flag, ""), f"argument {flag}: must not be empty")
        for flag in (
            "--models",
            "--run-id",
            "--base",
            "--judge",
            "--judge-node",
            "--config",
            "--icl-from",
            "--llm-cache",
            "--checkpointer",
            "--run-dir",
        )
    },
    # run ids and run dirs
    "run id 300": (_args("--run-id", "a" * 300), "run id too long (300 characters; at most 100)"),
    "run id 101": (_args("--run-id", "a" * 101), "run id too long"),
    "run id dot": (_args("--run-id", ".hidden"), "invalid run id '.hidden'"),
    "run id space": (_args("--run-id", "a b"), "invalid run id 'a b'"),
    "run id shell": (_args("--run-id", "a;rm -rf x"), "invalid run id"),
    "run id slash": (_args("--run-id", "x/y"), "invalid run id"),
    "run id non-ASCII": (_args("--run-id", "café"), "invalid run id"),
    "run dir is a file": (
        lambda t: ["--run-dir", _file(t / "passwd", "root:x:0:0")],
        "passwd is not a directory",
    ),
    "run dir under a file": (
        lambda t: ["--run-dir", _file(t / "passwd", "root") + "/runs"],
        "passwd is not a directory",
    ),
}
OTHER: dict[str, tuple[Make, str]] = {
    "resume latency inf": (_args("resume", "done", "--judge", "fake:latency_ms=inf"), "latency"),
    "resume log folder": (
        _args("resume", "done", "--models", "fake:log=TMP/none/l.jsonl"),
        "--models: log=",
    ),
    "resume rps nan": (_args("resume", "done", "--rps", "nan"), "--rps must be"),
    "resume max-calls 2^64": (_args("resume", "done", "--max-calls", BIG), "--max-calls"),
    "resume price nan": (_args("resume", "done", "--price", "base=nan/1"), "--price"),
    "resume empty judge": (_args("resume", "done", "--judge", ""), "must not be empty"),
    "fork D 1e12": (_args("fork", "done", "--level", "0", "-D", "10" * 7), "system_prompt.D"),
    "fork latency inf": (
        _args("fork", "done", "--level", "0", "--judge", "fake:latency_ms=inf"),
        "latency_ms must be a finite number",
    ),
    "fork log folder": (
        _args("fork", "done", "--level", "0", "--judge", "fake:log=TMP/x/y.jsonl"),
        "does not exist",
    ),
    "fork empty models": (_args("fork", "done", "--level", "0", "--models", ""), "not be empty"),
}
PACKS: dict[str, tuple[Make, str]] = {
    "null ICL entry": (_pack(icl_examples=[None]), "icl_examples.0: Input should be a valid"),
    "bad ICL entry": (_pack(icl_examples=[{"query": 1, "response": "r"}]), "icl_examples.0"),
    "ICL list null": (_pack(icl_examples=None), "icl_examples: Input should be a valid list"),
    "ICL response 2 MB": (
        _pack(icl_examples=[{"query": "q", "response": "r" * 2_000_000}]),
        "at most 16384 characters",
    ),
    "no embedding model": (_pack(embedding_model="DROP"), "embedding_model: Field required"),
    "embedding model null": (_pack(embedding_model=None), "embedding_model: Input should be"),
    "embedding model absent": (_pack(embedding_model="nobody/no-such-model"), "Hugging Face"),
    "embedding folder absent": (_pack(embedding_model="/no/such/folder"), "no such folder"),
    "K -1": (_pack(K=-1), "K: Input should be greater than or equal to 0"),
    "system prompt null": (_pack(system_prompt=None), "system_prompt: Input should be a valid"),
    "system prompt 5 MB": (_pack(system_prompt="p" * 5_000_000), "at most 32768 characters"),
    "sampling negative": (
        _pack(config={"sampling": {"base_temperature": -1}}),
        "config.sampling.base_temperature",
    ),
    "pack nested": (lambda t: [_file(t / "p.json", "[" * 50 + "]" * 50)], "nested deeper"),
}


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run in the run dir: no case may change it."""
    run_dir = tmp_path_factory.mktemp("attack") / "runs"
    config: dict[str, dict[str, int]] = {
        "icl": {"n": 1, "D": 1},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1},
    }
    config["system_prompt"]["seeds"] = 1
    run_once(run_dir, "done", fake_context("fake"), config)
    return run_dir


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _check(
    make: Make,
    needle: str,
    head: list[str],
    existing: Path,
    tmp: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*head, *make(tmp)]
    before, inputs = tree_digest(existing, folders=True), tree_digest(tmp, folders=True)
    code, err = _refused(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err[:2000])
    assert needle in err and err.startswith("drpo"), err[:2000]
    assert tree_digest(existing, folders=True) == before  # no run, store or cache made or changed
    assert tree_digest(tmp, folders=True) == inputs  # no file beside the case's inputs


@pytest.mark.parametrize("name", list(OPTIMIZE))
def test_optimize_refuses(
    name: str, existing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, needle = OPTIMIZE[name]
    head = ["optimize", "--run-dir", str(existing), "--models", "fake", *SMALL]
    if not (name.startswith("run id") or name == "empty --run-id"):
        head += ["--run-id", "new"]
    _check(make, needle, head, existing, tmp_path, capsys)


@pytest.mark.parametrize("name", list(OTHER))
def test_resume_and_fork_refuse(
    name: str, existing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, needle = OTHER[name]
    argv = lambda t: [*make(t), "--run-dir", str(existing)]  # noqa: E731
    _check(argv, needle, [], existing, tmp_path, capsys)


@pytest.mark.parametrize("command", ["chat", "serve"])
@pytest.mark.parametrize("name", list(PACKS))
def test_bad_pack_refused_at_load(
    name: str, command: str, existing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, needle = PACKS[name]
    pack = make(tmp_path)
    _check(lambda _t: [command, *pack, "--base", "fake"], needle, [], existing, tmp_path, capsys)


def test_resume_hint_is_shell_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "my runs; $(touch pwned)"
    argv = ["optimize", "--run-dir", str(run_dir), "--models", "fake", "--run-id", "r", *SMALL]
    code, err = _refused(argv, capsys)
    assert code == 0, err
    hint = next(line for line in err.splitlines() if "resume with: " in line)
    command = hint.split("resume with: ", 1)[1].removesuffix(")")
    assert shlex.split(command) == ["drpo", "resume", "r", "--run-dir", str(run_dir)]
