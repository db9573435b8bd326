"""A server no one here wrote: llama-cpp-python's OpenAI-compatible server (the
``llama-cpp-python[server]`` extra) hosting the embedded SmolLM2-135M drives every role of a
small full run (W=1, M=1, D=1) through ``openai-compatible:MODEL@URL`` with ``auto``.

That server answers ``response_format: json_schema`` with HTTP 500 ("Input should be 'text' or
'json_object'"); ``auto`` falls back to tools, which it turns into a grammar from the schema.
The schemas carry no length bounds (the strict subset), so sampling uses the embedded model's
repeat penalty, passed through the spec, and modest token caps keep the test short. The ICL
example and the seed query are one benign query, so the selector is asked once.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drpo.llm.backends import methods
from drpo.llm.backends.llamacpp import smollm2_path
from tests.conftest import fake_context, fresh_clients, run_once
from tests.support.processes import free_port, llama_cpp_server, stop, wait_until_up

QUERY = "Give three tips for staying healthy."
ANSWER = (
    "Eat plenty of vegetables and fruit, move for at least thirty minutes a day, and sleep "
    "seven to eight hours. Drink water instead of sugary drinks and see a doctor for checkups."
)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "server.log").open("w")  # a pipe nobody reads would fill and block it
    proc = subprocess.Popen(
        llama_cpp_server(str(smollm2_path()), port), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url + "/models", proc, 120, "llama_cpp.server", tmp_path / "server.log")
        yield url
    finally:
        stop(proc, 30)
        log.close()


@pytest.mark.slow
def test_llamacpp_server_drives_every_role_with_auto(server: str, tmp_path: Path) -> None:
    fresh_clients()
    methods.forget()
    (tmp_path / "icl.json").write_text(json.dumps([{"query": QUERY, "response": ANSWER}]))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "seed_alpaca.json").write_text(json.dumps([{"instruction": QUERY}]))
    (seeds / "seed_lima.json").write_text("[]")
    (seeds / "seed_redteam.txt").write_text("")
    spec = f"openai-compatible:smollm2@{server},repeat_penalty=1.15"
    config = {
        "icl": {"n": 1, "D": 1},
        "system_prompt": {"W": 1, "M": 1, "D": 1, "K": 0, "seeds": 1},
        "sampling": {"base_max_tokens": 256, "json_max_tokens": 512},
        "icl_path": str(tmp_path / "icl.json"),
        "seed_dir": str(seeds),
    }
    context = fake_context(spec, parse_retries=8)
    started = time.monotonic()
    result = run_once(tmp_path / "runs", "srv", context, config)
    print(f"run took {time.monotonic() - started:.0f} s; {result['usage']}")
    assert result["status"] == "finished" and result["best_system_prompt"]
    assert {role: row["calls"] > 0 for role, row in result["usage"].items()} == {
        "selector": True,
        "optimizer": True,
        "base": True,
        "judge": True,
    }
    assert result["structured_output"] == {spec: "tools"}
    # the one probe: json_schema answered with HTTP 500, counted as a rejection, not a fault
    assert result["provider_errors"].get("json_schema rejected") == 1
    assert not any(k.startswith("HTTP") for k in result["provider_errors"])
    fresh_clients()
    methods.forget()
