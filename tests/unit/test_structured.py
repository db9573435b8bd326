"""Structured output against OpenAI-like loopback servers (tests/openai_server.py): the
strict-subset schemas on the wire of a whole run through ``openai:``, ``auto`` falling back to
tools or json_object and recording what worked (no re-probing on resume), explicit methods."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drpo.cli.budget import EXIT_BUDGET
from drpo.cli.main import main
from drpo.core.schemas import (
    AspectSelectionReply,
    PromptTransitionReply,
    ResponseTransitionReply,
    judge_schema,
)
from drpo.llm.backends import methods
from drpo.llm.backends.structured import json_schema_format
from drpo.llm.backends.wire import wire_schema
from drpo.llm.judges import Overall
from drpo.ui.backends import LocalRuns
from drpo.ui.views import ForkRequest
from tests.conftest import SMALL, TINY, fresh_clients, fresh_provider, show
from tests.openai_server import OpenAIServer, method_of, schemas_of, strict_violations
from tests.support.runs import comparable, optimize

SAME = ("best_system_prompt", "best_reward", "icl_examples", "levels", "icl_levels", "calls")
REPLY_SCHEMAS: list[Any] = [
    AspectSelectionReply,
    PromptTransitionReply,
    ResponseTransitionReply,
    Overall,
    judge_schema(["Helpfulness", "Clarity", "title"]),
]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fresh_provider(monkeypatch, "5", openai_key="sk-test-not-a-key")


def _optimize(runs: Path, run_id: str, spec: str, *extra: str, args: list[str] = TINY) -> int:
    return optimize(runs, run_id, spec, *args, *extra)


@pytest.mark.parametrize("schema", REPLY_SCHEMAS, ids=lambda s: getattr(s, "__name__", "judge"))
def test_wire_schemas_are_in_the_strict_subset_and_bounds_stay_in_the_grammar(schema: Any) -> None:
    name, wire = wire_schema(schema)
    assert strict_violations(wire) == [], name
    grammar = json.dumps(json_schema_format(schema))  # what the embedded model gets
    if name != "Overall" and name != "AspectSelectionReply":
        assert "maxLength" in grammar and "maxLength" not in json.dumps(wire)
    # a property named like a keyword is a property, not a keyword
    if name == "JudgeReply":
        assert "title" in wire["properties"] and wire["required"][-1] == "title"


def test_strict_subset_on_the_wire_of_a_whole_run_through_openai(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = OpenAIServer(strict=True, deadline_s=300).start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    try:
        assert _optimize(tmp_path, "s", "openai:gpt-4o-mini", args=SMALL) == 0
        # the server does enforce the rules: the schema the client used to send is refused
        old = json_schema_format(PromptTransitionReply)
        request = urllib.request.Request(
            f"{server.url}/chat/completions",
            data=json.dumps(
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "x"}],
                    "response_format": old,
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    finally:
        server.shutdown()
    assert refused.value.code == 400
    error = json.loads(refused.value.read())["error"]
    assert error["param"] == "response_format"
    assert error["message"].startswith("Invalid schema for response_format 'PromptTransitionReply'")
    old_schema = old["json_schema"]["schema"]
    assert any("'maxLength' is not permitted" in p for p in strict_violations(old_schema))
    captured = server.requests[:-1]
    kinds = {}
    for body in captured:
        for param, name, schema in schemas_of(body):
            assert strict_violations(schema) == [], (param, name)
            kinds[name] = param
        if method_of(body) == "json_schema":
            assert body["response_format"]["json_schema"]["strict"] is True
    # every JSON role went through json_schema on the wire, checked above
    assert kinds == {
        "AspectSelectionReply": "response_format",
        "ResponseTransitionReply": "response_format",
        "PromptTransitionReply": "response_format",
        "JudgeReply": "response_format",
    }
    assert sum(method_of(b) is None for b in captured) == show(tmp_path, "s")["calls"]["base"]
    assert show(tmp_path, "s")["structured_output"] == {"openai:gpt-4o-mini": "json_schema"}


def test_tools_only_server_auto_falls_back_records_it_and_resume_does_not_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = OpenAIServer(formats=("tools",), deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    try:
        assert _optimize(tmp_path, "t", spec, "--max-calls", "12", args=SMALL) == EXIT_BUDGET
        meta = json.loads((tmp_path / "t" / "run.json").read_text())
        assert meta["context"]["structured_used"] == {spec: "tools"}
        assert server.stats["rejected json_schema"] == 1  # one probe for the whole run
        # a new process knows nothing; the run's record says tools: no probe again
        fresh_clients()
        methods.forget()
        capsys.readouterr()
        assert main(["resume", "t", "--run-dir", str(tmp_path), "--max-calls", "1000"]) == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert f"structured output per model: {spec} tools" in out
    assert server.stats["rejected json_schema"] == 1
    result = show(tmp_path, "t")
    assert result["provider_errors"] == {"json_schema rejected": 1}  # a probe, not an HTTP fault
    json_bodies = [b for b in server.requests if method_of(b) is not None]
    assert {method_of(b) for b in json_bodies[1:]} == {"tools"}
    for body in json_bodies[1:]:
        assert body["tool_choice"]["function"]["name"] == body["tools"][0]["function"]["name"]
    # tool calls carry the same replies: the same search as the in-process fake model
    fresh_clients()
    assert _optimize(tmp_path / "ref", "ref", "fake", args=SMALL) == 0
    reference = show(tmp_path / "ref", "ref")
    for key in SAME:
        assert comparable(result)[key] == comparable(reference)[key], key


def test_json_object_only_server_gets_the_schema_in_the_prompt(tmp_path: Path) -> None:
    server = OpenAIServer(formats=("json_object",), strict=True, deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    try:
        assert _optimize(tmp_path, "j", spec) == 0
    finally:
        server.shutdown()
    result = show(tmp_path, "j")
    assert result["status"] == "finished" and result["best_system_prompt"]
    assert result["structured_output"] == {spec: "json_object"}
    assert result["provider_errors"] == {"json_schema rejected": 1, "tools rejected": 1}
    answered = [b for b in server.requests if method_of(b) == "json_object"]
    assert answered and all(
        "follows this JSON schema" in b["messages"][-1]["content"] for b in answered
    )


def test_explicit_methods_per_role_are_sent_without_probing(tmp_path: Path) -> None:
    server = OpenAIServer(deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    try:
        code = _optimize(
            tmp_path,
            "e",
            spec,
            "--structured",
            "judge=tools",
            "--structured",
            "selector=json_object",
        )
        assert code == 0
    finally:
        server.shutdown()
    seen: dict[str, set[str | None]] = {}
    for body in server.requests:
        names = [n for _, n, _ in schemas_of(body)]
        if not names and "query_analysis" in json.dumps(body["messages"]):
            names = ["selection, schema in the prompt"]
        seen.setdefault(names[0] if names else "answer", set()).add(method_of(body))
    assert seen == {
        "JudgeReply": {"tools"},
        "ResponseTransitionReply": {"json_schema"},
        "PromptTransitionReply": {"json_schema"},
        "selection, schema in the prompt": {"json_object"},
        "answer": {None},
    }
    assert not server.stats["rejected json_schema"]
    meta = json.loads((tmp_path / "e" / "run.json").read_text())
    assert meta["context"]["structured"] == {"judge": "tools", "selector": "json_object"}


def test_a_fork_from_the_inspector_uses_the_recorded_method(tmp_path: Path) -> None:
    server = OpenAIServer(formats=("tools",), deadline_s=300).start()
    spec = f"openai-compatible:fake@{server.url}"
    backend = LocalRuns(tmp_path)

    async def fork() -> str:  # from stage 1's level 0: the rest of the run with its methods
        request = ForkRequest(stage="icl", level=0, judge_model=spec)
        new = await backend.fork("f", request)
        await backend.wait()
        return str(new["run_id"])

    try:
        assert _optimize(tmp_path, "f", spec) == 0
        assert server.stats["rejected json_schema"] == 1
        before = len(server.requests)
        fresh_clients()
        methods.forget()  # as in a new `drpo ui` process
        (tmp_path / "llm_cache.sqlite").unlink()  # the fork's calls reach the server
        forked = asyncio.run(fork())
    finally:
        server.shutdown()
    assert show(tmp_path, forked)["status"] == "finished"
    assert server.stats["rejected json_schema"] == 1  # the fork did not probe again
    after = [method_of(b) for b in server.requests[before:]]
    assert "tools" in after and set(after) <= {"tools", None}  # None: the base model's answers
