"""``mode=completion``: the spec grammar, the base-role rule (one line, exit 2, nothing written),
and the completion adapter against a stand-in that speaks only ``/v1/completions``: the paper's
layout, the stop sequences, the cut, usage; a server without the endpoint (404) stops the run
with one line naming it; a run's pack served by ``AlignedChatModel`` and ``drpo serve``."""

from __future__ import annotations

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
from drpo.core.context import ROLES
from drpo.core.messages import COMPLETION_STOP, ICLExample, build_messages, render_completion
from drpo.llm.backends.registry import SpecError, get_chat_model, parse_spec
from drpo.llm.provider_errors import describe
from drpo.serving.aligned import AlignedChatModel
from drpo.serving.serve import create_app
from drpo.web.guard import Guard
from tests.completions_server import CompletionsServer, answer_to
from tests.conftest import TINY, show
from tests.fault_server import FaultServer
from tests.support.files import tree_digest
from tests.support.processes import free_port

EXAMPLE = [ICLExample(query="What is 2 + 2?", response="4.")]
QUESTION = "What is DNA?"


@pytest.fixture()
def server() -> Iterator[CompletionsServer]:
    srv = CompletionsServer().start()
    yield srv
    srv.stop()


def _spec(url: str, extra: str = "") -> str:
    return f"openai-compatible:base@{url},mode=completion{extra}"


@pytest.mark.parametrize(
    "spec,fields",
    [
        ("openai-compatible:m@http://h:8000/v1,mode=completion,top_k=20",
         {"mode": "completion", "options": {"top_k": "20"}, "max_new_tokens": None}),
        ("openai-compatible:m@http://h/v1,mode=chat", {"mode": "chat", "options": {}}),
        ("openai-compatible:m@http://h/v1", {"mode": "chat"}),
        ("hf:gpt2,mode=completion,max_new_tokens=8",
         {"model": "gpt2", "mode": "completion", "max_new_tokens": 8}),
        ("hf:org/model,max_new_tokens=64", {"model": "org/model", "mode": "chat",
                                            "max_new_tokens": 64}),
        ("hf:org/model", {"model": "org/model", "mode": "chat", "max_new_tokens": None}),
    ],
)  # fmt: skip
def test_spec_grammar(spec: str, fields: dict[str, Any]) -> None:
    parsed = parse_spec(spec)
    assert {k: getattr(parsed, k) for k in fields} == fields


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("openai-compatible:m@http://h/v1,mode=completions", "expected mode=chat or mode=comp"),
        ("openai-compatible:m@http://h/v1,mode", "expected mode=chat or mode=completion"),
        ("hf:gpt2,mode=base", "expected mode=chat or mode=completion"),
        ("hf:gpt2,max_new_tokens=0", "max_new_tokens must be a finite number from 1 to 1e+06"),
        ("hf:gpt2,max_new_tokens=1000001", "from 1 to 1e+06, got 1000001"),
        ("hf:gpt2,max_new_tokens=-3", "bad hf option 'max_new_tokens=-3'"),
        ("hf:gpt2,max_new_tokens=2.5", "bad hf option 'max_new_tokens=2.5'"),
        ("hf:gpt2,temperature=0", "bad hf option 'temperature=0'"),
        ("hf:,mode=completion", "unknown model spec"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, needle: str) -> None:
    with pytest.raises(SpecError, match=None) as err:
        parse_spec(spec)
    assert needle in str(err.value)


def test_chat_specs_keep_their_cache_namespace() -> None:
    """The LLM-cache namespace of a spec without the new options is what it was before them."""
    key = parse_spec("openai-compatible:m@http://h/v1,top_k=20").key()
    assert key == (
        '{"provider":"openai-compatible","model":"m","base_url":"http://h/v1",'
        '"options":{"top_k":"20"}}'
    )
    assert parse_spec("openai-compatible:m@http://h/v1,top_k=20,mode=completion").key() != key


@pytest.mark.parametrize("spec", ["local:gemma3-270m", "hf:gpt2,mode=completion",
                                  "openai-compatible:m@http://h/v1,mode=completion"])  # fmt: skip
def test_only_the_base_role_may_use_a_completion_model(spec: str) -> None:
    assert parse_spec(spec, "base").completion_only()
    for role in ROLES[1:]:
        with pytest.raises(SpecError, match=f"not the JSON the {role} must return"):
            parse_spec(spec, role)
    assert not parse_spec("openai-compatible:m@http://h/v1").completion_only()
    parse_spec("openai-compatible:m@http://h/v1", "judge")  # a chat model: every role


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> None:
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert err.startswith("drpo: error: ") and "Traceback" not in err


def test_cli_refuses_a_completion_model_for_a_json_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec("http://127.0.0.1:9/v1")
    runs = tmp_path / "runs"
    for flags, flag, role in ((["--judge", spec], "--judge", "judge"),
                              (["--selector", "local:gemma3-270m"], "--selector", "selector"),
                              (["--models", spec], "--models", "optimizer")):  # fmt: skip
        argv = ["optimize", "--run-dir", str(runs), "--models", "fake", *TINY, *flags]
        needle = "is a base model in completion mode: it answers plain text, not the JSON the "
        _one_line_exit_2(argv, capsys, f"{flag}: '{flags[1]}' {needle}{role} must return")
        assert not runs.exists()
    # resume and fork of an existing run: refused before anything changes
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "p", "--models", "fake", *TINY]
    assert main([*argv, "-K", "0"]) == 0  # K=0: no embedding model to load
    before = tree_digest(runs)
    _one_line_exit_2(["resume", "p", "--run-dir", str(runs), "--judge", spec], capsys, "--judge:")
    _one_line_exit_2(
        ["fork", "p", "--level", "1", "--run-dir", str(runs), "--optimizer", spec],
        capsys,
        "the optimizer must return; only the base role may use it",
    )
    assert tree_digest(runs) == before


def test_adapter_sends_the_paper_layout_to_v1_completions(server: CompletionsServer) -> None:
    model = get_chat_model(_spec(server.url, ",top_k=20"))
    messages = build_messages("Be brief.", EXAMPLE, QUESTION)
    reply = model.invoke(messages, temperature=0.0, max_tokens=64, seed=3)
    assert reply.text == answer_to(QUESTION)
    [sent] = server.requests
    assert sent["path"] == "/v1/completions" and sent["prompt"] == [render_completion(messages)]
    assert sent["stop"] == COMPLETION_STOP and sent["top_k"] == 20 and "mode" not in sent
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.0, 64, 3)
    assert reply.response_metadata["finish_reason"] == "stop"
    prompt_words, answer_words = len(sent["prompt"][0].split()), len(reply.text.split())
    assert reply.usage_metadata == {"input_tokens": prompt_words, "output_tokens": answer_words,
                                    "total_tokens": prompt_words + answer_words}  # fmt: skip


def test_answer_is_cut_where_a_server_ignores_the_stops() -> None:
    srv = CompletionsServer(honor_stop=False).start()
    try:
        reply = get_chat_model(_spec(srv.url)).invoke([HumanMessage(QUESTION)], max_tokens=64)
        assert reply.text == answer_to(QUESTION)
        assert "# Query" in srv.complete({"prompt": render_completion([HumanMessage("q")]),
                                          "max_tokens": 64})["choices"][0]["text"]  # fmt: skip
        # the server ran on to its cap after the answer closed: a whole answer, not a cut one
        assert reply.response_metadata["finish_reason"] == "stop"
    finally:
        srv.stop()
    short = CompletionsServer(tail="").start()
    try:
        reply = get_chat_model(_spec(short.url)).invoke([HumanMessage(QUESTION)], max_tokens=3)
        assert reply.text == "Here is a" and reply.response_metadata["finish_reason"] == "length"
    finally:
        short.stop()


def test_a_json_request_is_refused(server: CompletionsServer) -> None:
    model = get_chat_model(_spec(server.url))
    with pytest.raises(NotImplementedError, match="only the base role may use it"):
        model.invoke([HumanMessage("q")], response_format={"type": "json_object"})
    assert not server.requests


def test_a_server_without_v1_completions_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Probed (one token) before a run exists: one line, exit 2, nothing written; and a run that
    meets the 404 later (a server swapped under it) stops with the same words, exit 1."""
    chat_only = FaultServer().start()  # answers /v1/chat/completions only
    spec = _spec(chat_only.url)
    why = (
        f"HTTP 404 from {chat_only.url}/completions: the server has no /v1/completions, which a "
        "mode=completion spec calls (serve the model where it has one, e.g. vLLM or llama.cpp's "
        "server, or drop mode=completion for a chat model) (not found)"
    )
    try:
        runs = tmp_path / "runs"
        argv = ["optimize", "--run-dir", str(runs), "--run-id", "r", "--models", "fake",
                "--base", spec, *TINY, "-K", "0"]  # fmt: skip
        assert main(argv) == 2
        assert capsys.readouterr().err.splitlines() == [f"drpo: error: --base: {why}"]
        assert chat_only.stats["requests"] == 1 and not runs.exists()
        with pytest.raises(openai.NotFoundError) as err:  # what a run meets: the same words
            get_chat_model(spec).invoke([HumanMessage("q")])
        assert describe(err.value) == why
        assert chat_only.stats["requests"] == 2  # a 404 is not retried
    finally:
        chat_only.shutdown()


def test_a_chat_404_keeps_its_message(server: CompletionsServer) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        get_chat_model(f"openai-compatible:x@{server.url}").invoke("hi")
    assert describe(err.value) == f"HTTP 404 from {server.url}/chat/completions: Not Found"


PROBE = {"path": "/v1/completions", "model": "base", "prompt": "# Query:", "max_tokens": 1}


def _answers(server: CompletionsServer) -> list[dict[str, Any]]:
    """The requests for answers (not checked_spec's probes)."""
    return [r for r in server.requests if r != PROBE]


def test_a_runs_pack_serves_chat_through_the_completion_base(
    server: CompletionsServer, tmp_path: Path
) -> None:
    spec = _spec(server.url)
    runs, pack = tmp_path / "runs", tmp_path / "pack.json"
    argv = ["optimize", "--run-dir", str(runs), "--run-id", "b", "--models", "fake", *TINY]
    assert main([*argv, "--base", spec]) == 0
    assert server.requests[0] == PROBE  # one token asked before the run existed
    generated = len(_answers(server))
    assert generated > 0 and {r["path"] for r in server.requests} == {"/v1/completions"}
    # the same run again in the run dir: every answer from the LLM-call cache, none asked for
    assert main([*argv[:4], "b2", *argv[5:], "--base", spec]) == 0
    assert len(_answers(server)) == generated and server.requests[-1] == PROBE
    again = show(runs, "b2")["usage"]["base"]
    assert (again["calls"], again["cache_hits"]) == (0, generated)
    assert main(["export", "b", "-o", str(pack), "--run-dir", str(runs)]) == 0
    aligned = AlignedChatModel.from_pack(pack, spec)
    port = free_port()
    app = create_app(aligned, Guard("key"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started:
            assert time.monotonic() < deadline, "drpo serve did not start"
            time.sleep(0.05)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="key")
        asked: Any = [{"role": "user", "content": QUESTION}]
        reply = client.chat.completions.create(model="drpo-aligned", messages=asked)
        chunks = list(client.chat.completions.create(model="x", messages=asked, stream=True))
    finally:
        srv.should_exit = True
        thread.join(10)
    assert reply.choices[0].message.content == answer_to(QUESTION)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer_to(QUESTION)
    sent, streamed = _answers(server)[generated:]
    prepared = aligned.prepare([HumanMessage(QUESTION)])
    assert sent["prompt"] == streamed["prompt"] == [render_completion(prepared)]
    assert sent["prompt"][0].startswith(f"# Instruction\n\n{aligned.system_prompt.strip()}")
