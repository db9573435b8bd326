"""A base model served by a server no one here wrote, in completion mode: llama-cpp-python's
OpenAI-compatible server hosting the pretrained Gemma 3 270M GGUF (no chat template) is the base
of an optimize run through ``openai-compatible:gemma@URL,mode=completion`` (the other roles
fake); the run's pack is exported and served by ``drpo serve``, and a chat request to it is
answered by Gemma through ``/v1/completions`` (the server's access log shows each request)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from drpo.cli.main import main
from drpo.llm.backends.llamacpp import gemma3_path
from tests.conftest import ENV, fresh_clients, show
from tests.http_probe import wait_for_answer
from tests.support.processes import free_port, llama_cpp_server, stop, wait_until_up

EXAMPLES = [
    {"query": "What is the capital of France?", "response": "The capital of France is Paris."},
    {"query": "Name a primary colour.", "response": "Red is a primary colour."},
]
SEEDS = [{"instruction": "What is the capital of Italy?"}, {"instruction": "Name a fruit."}]
COMPLETIONS = '"POST /v1/completions HTTP/1.1" 200'


@pytest.fixture()
def gemma(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log_path = free_port(), tmp_path / "llama_server.log"
    log = log_path.open("w")  # a pipe nobody reads would fill and block it
    proc = subprocess.Popen(
        llama_cpp_server(str(gemma3_path()), port), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url + "/models", proc, 120, "llama_cpp.server", log_path)
        yield url, log_path
    finally:
        stop(proc, 30)
        log.close()


def _inputs(tmp: Path) -> Path:
    (tmp / "icl.json").write_text(json.dumps(EXAMPLES))
    seeds = tmp / "seeds"
    seeds.mkdir()
    (seeds / "seed_alpaca.json").write_text(json.dumps(SEEDS))
    (seeds / "seed_lima.json").write_text("[]")
    (seeds / "seed_redteam.txt").write_text("")
    config = {
        "icl_path": str(tmp / "icl.json"),
        "seed_dir": str(seeds),
        "sampling": {"base_max_tokens": 48, "base_temperature": 0.0},
    }
    (tmp / "config.json").write_text(json.dumps(config))
    return tmp / "config.json"


@pytest.mark.slow
def test_gemma_base_in_completion_mode_is_aligned_and_served(
    gemma: tuple[str, Path], tmp_path: Path
) -> None:
    fresh_clients()
    url, log = gemma
    spec = f"openai-compatible:gemma@{url},mode=completion,repeat_penalty=1.15"
    runs, pack = tmp_path / "runs", tmp_path / "pack.json"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "g", "--models", "fake",
            "--base", spec, "--config", str(_inputs(tmp_path)), "--icl", "2", "--icl-D", "1",
            "-W", "1", "-M", "1", "-D", "1", "--seeds", "2", "-K", "1"]  # fmt: skip
    assert main(argv) == 0
    result = show(runs, "g")
    base_calls = result["usage"]["base"]["calls"]
    assert result["status"] == "finished" and base_calls > 0
    assert result["usage"]["base"]["output_tokens"] > 0  # the server's usage, counted
    text = log.read_text()
    # each base call, and the one-token probe of /v1/completions before the run (checked_spec)
    assert text.count(COMPLETIONS) == base_calls + 1 and "/v1/chat/completions" not in text
    assert main(["export", "g", "-o", str(pack), "--run-dir", str(runs)]) == 0

    port, serve_log = free_port(), tmp_path / "serve.log"
    with serve_log.open("w") as out:
        served = subprocess.Popen(
            [sys.executable, "-m", "drpo.cli", "serve", str(pack), "--base", spec,
             "--port", str(port), "--api-key", "k"],
            env=ENV, stderr=out, text=True,
        )  # fmt: skip
    try:
        wait_for_answer(f"http://127.0.0.1:{port}", "/v1/models", served)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", timeout=300)
        reply = client.chat.completions.create(
            model="drpo-aligned",
            messages=[{"role": "user", "content": "What is the capital of Spain?"}],
            max_tokens=48,
        )
    finally:
        stop(served, 10)
    answer = reply.choices[0].message.content or ""
    print(f"Gemma, aligned and served: {answer!r}")
    assert answer.strip() and "# Query" not in answer and "```" not in answer
    # drpo serve's probe, then the chat request: both reached it
    assert log.read_text().count(COMPLETIONS) == base_calls + 3
    fresh_clients()
