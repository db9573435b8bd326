"""`drpo serve` with the official openai client, `drpo chat` and `drpo graph`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from langchain_core.messages import HumanMessage

from drpo.cli.main import main
from drpo.serving.aligned import AlignedChatModel
from drpo.serving.serve import create_app
from drpo.web.guard import Guard
from tests.conftest import ENV
from tests.packs import make_pack
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return make_pack(tmp_path_factory.mktemp("pack"))


@pytest.fixture(scope="module")
def server(pack: tuple[Path, Any]) -> Iterator[tuple[str, AlignedChatModel]]:
    model = AlignedChatModel.from_pack(pack[0], "fake")
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(model, Guard("unused")), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", model
    srv.should_exit = True
    thread.join(10)


def test_openai_client_gets_the_aligned_answer(server: tuple[str, AlignedChatModel]) -> None:
    url, model = server
    client = openai.OpenAI(base_url=url, api_key="unused")
    question = "Explain photosynthesis briefly."
    expected = model.invoke([HumanMessage(question)]).text
    reply = client.chat.completions.create(
        model="drpo-aligned", messages=[{"role": "user", "content": question}]
    )
    assert reply.choices[0].message.content == expected
    assert reply.choices[0].finish_reason == "stop"
    plain = AlignedChatModel.from_pack({**_pack_of(model), "system_prompt": ""}, "fake")
    assert plain.invoke([HumanMessage(question)]).text != expected  # the prompt made the answer
    assert [m.id for m in client.models.list()] == ["drpo-aligned"]


def test_streaming(server: tuple[str, AlignedChatModel]) -> None:
    url, model = server
    client = openai.OpenAI(base_url=url, api_key="unused")
    messages: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is DNA?"}]},
    ]
    chunks = list(client.chat.completions.create(model="x", messages=messages, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    expected = model.invoke([("system", "Be brief."), ("user", "What is DNA?")]).text
    assert text == expected and text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_bad_request_is_a_400(server: tuple[str, AlignedChatModel]) -> None:
    client = openai.OpenAI(base_url=server[0], api_key="unused")
    with pytest.raises(openai.BadRequestError, match="no user message to answer"):
        client.chat.completions.create(
            model="x", messages=[{"role": "assistant", "content": "hello"}]
        )


def _pack_of(model: AlignedChatModel) -> dict[str, Any]:
    return {
        "format": "drpo-alignment-pack/1",
        "system_prompt": model.system_prompt,
        "icl_examples": model.icl_examples,
        "K": model.k,
        "embedding_model": model.embedding_model,
    }


def test_chat_in_a_terminal_session(pack: tuple[Path, Any]) -> None:
    model = AlignedChatModel.from_pack(pack[0], "fake")
    first = model.invoke([HumanMessage("Hello there")]).text
    proc = subprocess.run(
        [sys.executable, "-m", "drpo.cli", "chat", str(pack[0]), "--base", "fake"],
        input="Hello there\n/reset\nHello there\n/exit\nnever read\n",
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answers = [ln for ln in proc.stdout.splitlines() if ln.startswith("assistant> ")]
    assert answers == [f"assistant> {first}"] * 2  # /reset: the same first turn again
    assert "(conversation reset)" in proc.stdout


def test_cli_bad_pack_and_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert main(["serve", str(bad), "--base", "fake"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"drpo: error: {bad} is not a drpo-alignment-pack/1"]
    assert main(["graph"]) == 0
    out = capsys.readouterr().out
    assert "prune_beam -.-> review_best" in out and "graph TD" in out
    for step in ("sample_query", "retrieve_icl", "select_aspects", "generate", "judge",
                 "transition", "prune_beam"):  # fmt: skip  # the design card's seven steps
        assert f"\t{step}({step})" in out
    with pytest.raises(SystemExit) as exited:  # one graph: the flag is gone
        main(["graph", "--stage", "icl"])
    assert exited.value.code == 2
