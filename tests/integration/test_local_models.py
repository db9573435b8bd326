"""The embedded default, for real: SmolLM2-135M (llama.cpp) in every role, real FAISS retrieval,
SQLite checkpointer and store. Scores from a 135M judge carry little meaning; this test proves
the pipeline runs end to end on the shipped models, not that it aligns anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.llm.cost import expected_calls
from tests.conftest import run_once, show


@pytest.mark.slow
def test_tiny_real_run_on_embedded_models(tmp_path: Path) -> None:
    config = {
        "icl": {"n": 1, "W": 1, "M": 1, "D": 1},  # one example: both stages, every role
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 2},
        # a cut answer is re-sampled once with twice the cap, then fails the run: room to end
        "sampling": {"base_max_tokens": 256, "json_max_tokens": 768},
    }
    result = run_once(
        tmp_path, "tiny", Context(index_cache_dir=str(tmp_path / "idx"), parse_retries=8), config
    )
    assert result["status"] == "finished"
    assert result["calls"] == expected_calls(RunConfig.model_validate(config), 1)
    assert result["best_system_prompt"].strip()
    assert [e["query"] for e in result["icl_examples"]] and all(
        e["response"].strip() for e in result["icl_examples"]
    )
    for record in result["records"]["system_prompt"] + result["records"]["icl"]:
        for cand in record["candidates"]:
            assert 1 <= cand["reward"] <= 5
            for ev in cand["evaluations"]:
                assert all(s["rationale"] is not None for s in ev["scores"].values())
    assert list((tmp_path / "idx").glob("*.faiss"))  # the real index was built and cached
    assert show(tmp_path, "tiny")["best_system_prompt"] == result["best_system_prompt"]
