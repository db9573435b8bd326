"""The `openai:` provider runs a tiny search against a local OpenAI-compatible endpoint started
here on 127.0.0.1 (tests/fault_server.py, no faults; the base URL and key come from the
environment as for api.openai.com)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY, fake_context, run_once
from tests.fault_server import FaultServer
from tests.support.runs import comparable

KEY = "sk-test-local-0123456789"


def test_openai_provider_runs_a_search_against_a_local_endpoint(tmp_path: Path) -> None:
    server = FaultServer(key=KEY, deadline_s=300).start()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DRPO_API_KEY", "OPENAI_API_BASE")},
        "HF_HUB_OFFLINE": "1",
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEY": KEY,
    }
    run_dir = tmp_path / "runs"
    try:
        out = subprocess.run(
            [sys.executable, "-m", "drpo.cli", "optimize", "--run-dir", str(run_dir), "--run-id",
             "o", "--models", "openai:gpt-local-test", "--llm-cache", "off", *TINY],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "drpo.cli", "show", "o", "--run-dir", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    got = json.loads(shown.stdout)
    # every model call was one authorised request to the endpoint
    made = sum(row["calls"] for row in got["usage"].values())
    stats = server.stats
    assert made > 0 and stats["requests"] == stats["ok"] == made and not stats["401"]
    # the endpoint answers as the fake model does: the same search as the in-process fake
    config = {
        "icl": {"n": 1, "D": 1},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 1, "seeds": 2},
    }
    want = run_once(tmp_path / "f", "f", fake_context("fake", llm_cache="off"), config)
    for key in ("best_system_prompt", "best_reward", "icl_examples", "levels", "calls"):
        assert comparable(got)[key] == comparable(want)[key], key
    # the key is read from the environment, never written anywhere in the run dir
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
