"""Send payloads carry what their node needs (ids, text, sampling values), not the run's config
or the optimizer's reasoning, which goes to the level record once (issue 23, slim state)."""

from __future__ import annotations

import json
from pathlib import Path

from drpo.cli.main import main
from drpo.core.config import RunConfig
from drpo.core.state import make_candidate
from graph.routes import send_scoring, send_transitions
from tests.conftest import show


def _state() -> dict:
    config = RunConfig.model_validate({"system_prompt": {"W": 2, "M": 3}}).model_dump()
    cand = make_candidate("system_prompt:L01:00.00", "system_prompt", 1, "system_prompt:L00", "P")
    aspects = {"query": "q", "aspects": {"Helpfulness": "h"}, "reasoning": "", "source": "static"}
    return {
        "config": config, "stage": "system_prompt", "level": 1, "frontier": [cand],
        "level_queries": ["q"], "level_aspects": {"q": aspects}, "icl_context": {"q": []},
        "tracks": {"system_prompt": {"initial": "P"}},
        "beam": {"system_prompt": [{"candidate": cand, "evaluations": [], "reward": 3.0}]},
    }  # fmt: skip


def test_scoring_and_transition_tasks_carry_no_config() -> None:
    state = _state()
    (generate,) = send_scoring(state)  # type: ignore[arg-type, misc]
    assert set(generate.arg) == {"candidate", "query", "icl", "aspects", "sampling", "then"}
    assert set(generate.arg["candidate"]) == {"id", "track", "level", "parent", "text"}
    assert generate.arg["sampling"] == state["config"]["sampling"]
    sends = send_transitions(state)  # type: ignore[arg-type]
    assert isinstance(sends, list) and len(sends) == 3  # M samples of the one parent
    task = sends[0].arg
    assert set(task) == {"stage", "parent", "parent_index", "sample", "level", "seed", "sampling"}
    assert len(json.dumps(task)) < len(json.dumps(state["config"])) + 600


def test_the_optimizers_reasoning_is_in_the_level_record_only(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "r", "--models", "fake",
            "--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "2", "-K", "0",
            "--select", "last-beam"]  # fmt: skip
    assert main(argv) == 0
    records = show(runs, "r")["records"]["system_prompt"]
    proposals = [c for r in records if r["level"] > 0 for c in r["candidates"]]
    assert proposals and all(c["analysis"] == c["thought"] == "fake" for c in proposals)
    assert "analysis" not in records[0]["candidates"][0]  # s_0 is no proposal
