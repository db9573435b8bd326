"""Search ablations (Table 4): greedy = beam with W=1; mc = one-step samples from s_0, as many as
beam proposes; call counts against A.5 and drpo/llm/cost.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.llm.cost import children_per_level, expected_calls, paper_a5
from tests.conftest import fake_context, fake_spec, read_log, run_once

STAGE = {"W": 2, "M": 3, "D": 3, "K": 1, "seeds": 8, "select": "last-beam"}


def _config(search: str, **sp: int) -> dict:
    return {"search": search, "icl": {"n": 1, "D": 1}, "system_prompt": {**STAGE, **sp}}


def test_greedy_is_beam_with_width_one(tmp_path: Path, log_path: Path) -> None:
    config = _config("greedy")
    del config["system_prompt"]["W"]
    parsed = RunConfig.model_validate(config)
    assert parsed.system_prompt.W == 1
    result = run_once(tmp_path, "greedy", fake_context(fake_spec(log_path)), config)
    # W=1: one parent per level, M=3 children each: 3 transitions per level for D=3 levels
    assert result["calls"]["optimizer"] == 1 + 3 * 3  # + 1 ICL transition
    assert result["calls"]["base"] == 1 + 9
    for record in result["records"]["system_prompt"]:
        assert sum(c["kept"] for c in record["candidates"]) == 1
    assert result["calls"] == expected_calls(parsed, 1)
    # cheaper than beam, as in the paper (App. A.2)
    beam = expected_calls(RunConfig.model_validate(_config("beam")), 1)
    assert result["calls"]["optimizer"] < beam["optimizer"]
    with pytest.raises(ValidationError, match="W=1"):
        RunConfig.model_validate(_config("greedy", W=2))


def test_mc_samples_w_m_d_prompts_from_s0(tmp_path: Path, log_path: Path) -> None:
    config = _config("mc")
    parsed = RunConfig.model_validate(config)
    n = 2 * 3 * 3  # W*M*D (App. A.2)
    assert n == parsed.search_stage().M and parsed.search_stage().D == 1
    result = run_once(tmp_path, "mc", fake_context(fake_spec(log_path)), config)
    levels = result["records"]["system_prompt"]
    assert [r["level"] for r in levels] == [0, 1]
    assert all(c["parent"] == "system_prompt:L00" for c in levels[1]["candidates"])  # one step
    assert len(levels[1]["candidates"]) + levels[1]["dropped_duplicates"] == n, levels[1]
    assert result["calls"] == expected_calls(parsed, 1)
    kinds = Counter(r["kind"] for r in read_log(log_path))
    assert kinds["transition"] == 1 + n
    # A.5's W*M*D = 18 for beam; this implementation's beam proposes 15 (level 1 has 1 parent)
    assert paper_a5(2, 3, 3, 1, 1, 1, 1)["optimizer"] - 1 == n
    assert sum(children_per_level(2, 3, 3)) == n - 3


def test_search_flag_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["optimize", "--models", "fake", "--run-dir", str(tmp_path), "--icl", "1", "-K", "1"]
    assert main([*argv, "--search", "greedy", "-W", "2", "--run-id", "bad"]) == 2
    assert "W=1" in capsys.readouterr().err
    assert main([*argv, "--search", "greedy", "--run-id", "g", "-D", "1", "--seeds", "2"]) == 0
    assert '"search": "greedy"' in (tmp_path / "g" / "run.json").read_text()
