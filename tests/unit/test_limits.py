"""Input limits (drpo/core/limits.py): model-spec options, RunConfig bounds, run ids, JSON
nesting, the shell-quoted resume hint and the pack schema of `drpo chat` / `drpo serve`."""

from __future__ import annotations

import json
import shlex
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from drpo.core.config import RunConfig
from drpo.core.limits import (
    LimitError,
    check_run_id,
    json_depth,
    loads_bounded,
    resume_hint,
)
from drpo.llm.backends.registry import SpecError, get_chat_model, parse_spec
from drpo.serving.pack_schema import PackError, check_pack


@pytest.mark.parametrize(
    "spec",
    [
        "fake",
        "fake:latency_ms=0,malformed_rate=0.5",
        "fake:latency_ms=60000,malformed_rate=1",
        "sim:world=improve,noise=0.3,seed=9223372036854775807",
        'openai-compatible:m@http://127.0.0.1:8/v1,top_k=20,stop=["x"]',
    ],
)
def test_good_specs_parse(spec: str) -> None:
    assert parse_spec(spec).provider in ("fake", "sim", "openai-compatible")


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("fake:latency_ms=inf", "latency_ms must be a finite number from 0 to 60000, got inf"),
        ("fake:latency_ms=nan", "got nan"),
        ("fake:latency_ms=60001", "got 60001"),
        ("fake:latency_ms=-1", "got -1"),
        ("fake:latency_ms=abc", "latency_ms='abc' is not a number"),
        ("fake:malformed_rate=1.5", "malformed_rate must be a finite number from 0 to 1"),
        ("fake:malformed_rate=-inf", "malformed_rate must be"),
        ("fake:log=", "log='': expected a file path"),
        ("fake:log=/no/such/folder/calls.jsonl", "folder '/no/such/folder' does not exist"),
        ("fake:events=/no/such/e.jsonl", "does not exist"),
        ("fake:hold=/no/such/hold", "does not exist"),
        ("sim:world=improve,noise=inf", "bad sim spec"),
        ("sim:world=improve,seed=99999999999999999999999", "bad sim spec"),
        ("openai-compatible:m@http://h/v1,temperature=Infinity", "Infinity is not a finite"),
        ("fake:" + "x" * 3000, "at most 2000"),
    ],
)
def test_bad_spec_options_are_refused(spec: str, needle: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert needle in str(info.value)


def test_a_fake_call_waits_while_its_hold_file_exists(tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.write_text("")
    model = get_chat_model(f"fake:hold={hold}")
    done = threading.Event()
    threading.Thread(target=lambda: (model.invoke("hi"), done.set()), daemon=True).start()
    assert not done.wait(0.5)  # held
    hold.unlink()
    assert done.wait(10)  # answered once the file is gone


def test_log_folder_is_checked(tmp_path: Path) -> None:
    assert parse_spec(f"fake:log={tmp_path}/calls.jsonl").options["log"].endswith("calls.jsonl")
    with pytest.raises(SpecError, match="expected a file path"):
        parse_spec(f"fake:log={tmp_path}")  # a folder


@pytest.mark.parametrize(
    "data,where",
    [
        ({"system_prompt": {"D": 1001}}, "system_prompt.D"),
        ({"system_prompt": {"W": 101}}, "system_prompt.W"),
        ({"system_prompt": {"K": 101}}, "system_prompt.K"),
        ({"system_prompt": {"B": 1001}}, "system_prompt.B"),
        ({"icl": {"M": 2**64}}, "icl.M"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        ({"system_prompt": {"shuffle_seed": 2**70}}, "system_prompt.shuffle_seed"),
        ({"sampling": {"base_temperature": float("nan")}}, "sampling.base_temperature"),
        ({"sampling": {"judge_temperature": float("inf")}}, "sampling.judge_temperature"),
        ({"sampling": {"optimizer_temperature": 2.5}}, "sampling.optimizer_temperature"),
        ({"sampling": {"json_max_tokens": 10**7}}, "sampling.json_max_tokens"),
        ({"system_prompt": {"initial_prompt": "p" * 32769}}, "system_prompt.initial_prompt"),
        ({"system_prompt": {"initial_prompt": None}}, "system_prompt.initial_prompt"),
        ({"seed_dir": ""}, "seed_dir"),
    ],
)
def test_config_bounds(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        RunConfig.model_validate(data)
    assert ".".join(map(str, info.value.errors()[0]["loc"])) == where


def test_config_limits_themselves_pass() -> None:
    config = RunConfig.model_validate(
        {
            "system_prompt": {"W": 100, "M": 100, "D": 1000, "K": 100, "B": 1000},
            "seed": 2**63 - 1,
            "sampling": {"base_temperature": 2.0},
        }
    )
    assert config.system_prompt.D == 1000 and config.seed == 2**63 - 1


@pytest.mark.parametrize("good", ["run-1", "a", "Ab_c-9", "x" * 100, "run-20250101-120000"])
def test_good_run_ids(good: str) -> None:
    assert check_run_id(good) == good


BAD_IDS = ["", ".x", "..", "a.b", "a b", "a/b", "a;b", "é", "x" * 101, "a\nb"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_run_ids(bad: str) -> None:
    with pytest.raises(LimitError):
        check_run_id(bad)


def test_json_depth_skips_strings_and_bounds_nesting() -> None:
    assert json_depth('{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth('["\\"[[[["]') == 1
    assert loads_bounded("[" * 32 + "]" * 32, "x") is not None
    with pytest.raises(LimitError, match="x: JSON nested deeper than 32"):
        loads_bounded("[" * 33 + "]" * 33, "x")
    with pytest.raises(LimitError, match="nested deeper"):
        loads_bounded("[" * 100_000 + "]" * 100_000, "x")  # json.loads: RecursionError
    with pytest.raises(LimitError, match="x: -Infinity is not a JSON number"):
        loads_bounded('{"a": -Infinity}', "x")


@pytest.mark.parametrize("root", ["runs", "my runs", "a'b", "$(touch x); `y`", "-rf"])
def test_resume_hint_round_trips_through_a_shell(root: str) -> None:
    assert shlex.split(resume_hint("r-1", root)) == ["drpo", "resume", "r-1", "--run-dir", root]


PACK = {
    "format": "drpo-alignment-pack/1",
    "system_prompt": "",
    "icl_examples": [{"query": "q", "response": "r", "extra": 1}],
    "K": 5,
    "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
    "provenance": {"kept": True},
}


def test_pack_schema_keeps_good_packs(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PACK))
    pack = check_pack(path)
    assert pack.examples() == [{"query": "q", "response": "r"}]
    assert pack.model_dump()["provenance"] == {"kept": True}  # other fields pass through
    assert check_pack({**PACK, "K": 0, "embedding_model": "nobody/none"}).K == 0  # no retrieval


@pytest.mark.parametrize(
    "change,needle",
    [
        ({"icl_examples": [None]}, "icl_examples.0"),
        ({"icl_examples": [{"query": "", "response": "r"}]}, "icl_examples.0.query"),
        ({"K": -1}, "K: Input should be greater than or equal to 0"),
        ({"K": True}, "K: Input should be a valid integer"),
        ({"system_prompt": None}, "system_prompt"),
        ({"embedding_model": ""}, "embedding_model"),
        ({"config": {"sampling": {"base_max_tokens": -5}}}, "config.sampling.base_max_tokens"),
        ({"format": "other"}, "is not a drpo-alignment-pack/1"),
    ],
)
def test_pack_schema_refuses(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(PackError) as info:
        check_pack({**PACK, **change})
    assert needle in str(info.value)
