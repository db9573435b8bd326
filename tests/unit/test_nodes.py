"""Nodes called alone, the judge swap, prompt building and model specs."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.store.memory import InMemoryStore
from pydantic import ValidationError

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.messages import build_messages, clean_completion, render_completion
from drpo.core.plan import level_queries
from drpo.core.state import Candidate, DRPOState, JudgeTask, config_of
from drpo.llm.backends.registry import SpecError, get_chat_model, parse_spec
from drpo.llm.calls import DRPOCallError
from drpo.llm.judges import resolve_judge
from nodes.drop_duplicates import drop_duplicates
from nodes.judge import judge
from nodes.select_aspects import cache_key, select_aspects
from tests.conftest import fake_context, fake_spec, read_log, run_once, small_config


class FakeRuntime:
    def __init__(self, context: Context) -> None:
        self.context, self.store = context, InMemoryStore()


def _cand(cid: str, text: str, level: int = 1, track: str = "t") -> Candidate:
    return {
        "id": cid,
        "track": track,
        "level": level,
        "parent": None,
        "text": text,
    }


def test_level_queries_walk_the_recorded_order_and_wrap() -> None:
    config = RunConfig.model_validate({"system_prompt": {"B": 2}})
    assert level_queries(config, ["a", "b", "c", "d", "e"], 2) == ["e", "a"]


def test_drop_duplicates_keeps_first_distinct_new_state() -> None:
    state: DRPOState = {
        "level": 1,
        "beam": {
            "t": [{"candidate": _cand("t:L00", "Be  nice.", 0), "evaluations": [], "reward": 1.0}]
        },
        "proposals": [
            _cand("t:L01:00.01", "be nice."),
            _cand("t:L01:00.00", "New"),
            _cand("t:L01:00.02", "new"),
            _cand("u:L01:00.00", "New", track="u"),
        ],
    }
    kept = asyncio.run(drop_duplicates(state))["frontier"]
    assert [c["id"] for c in kept] == ["t:L01:00.00", "u:L01:00.00"]


def test_select_aspects_node_alone_with_fake_model(tmp_path: Path) -> None:
    spec = fake_spec(tmp_path / "l.jsonl")
    runtime = FakeRuntime(fake_context(spec))
    task = {"query": "How do I bake bread?", "max_tokens": 2048}
    out = asyncio.run(select_aspects(task, runtime))  # type: ignore[arg-type]
    assert out["calls"] == {"selector": 1}
    namespace, key = cache_key(spec, "How do I bake bread?")
    item = runtime.store.get(namespace, key)
    assert item is not None and 2 <= len(item.value["aspects"]) <= 5
    # stored by this thread: counted as this run's call (a resumed task), but not made again
    again = asyncio.run(select_aspects(task, runtime))  # type: ignore[arg-type]
    assert again["calls"] == {"selector": 1}
    assert len(read_log(tmp_path / "l.jsonl")) == 1


def _judge_task(output: str = "An answer.") -> JudgeTask:
    return {
        "candidate": _cand("c", "prompt"),
        "query": "q",
        "output": output,
        "aspects": {
            "query": "q",
            "aspects": {"Helpfulness": "h", "Clarity": "c"},
            "reasoning": "r",
            "source": "selector",
        },
        "sampling": RunConfig().sampling.model_dump(),
        "then": "choose_prompt",
    }


def test_judge_node_alone_reward_is_mean(tmp_path: Path) -> None:
    runtime = FakeRuntime(fake_context(fake_spec(tmp_path / "l.jsonl")))
    command = asyncio.run(judge(_judge_task(), runtime))  # type: ignore[arg-type]
    out = command.update
    assert isinstance(out, dict) and command.goto == "choose_prompt"  # the task's "then"
    ev = out["evaluations"][0]
    scores = [s["score"] for s in ev["scores"].values()]
    assert set(ev["scores"]) == {"Helpfulness", "Clarity"}
    assert ev["reward"] == sum(scores) / 2 and out["calls"] == {"judge": 1}


def test_judge_node_raises_a_named_error_after_retries(tmp_path: Path) -> None:
    log = tmp_path / "l.jsonl"
    runtime = FakeRuntime(fake_context(fake_spec(log, malformed_rate=1), parse_retries=4))
    with pytest.raises(DRPOCallError, match="judge c on query 'q'.*after 4 attempts"):
        asyncio.run(judge(_judge_task(), runtime))  # type: ignore[arg-type]
    assert Counter(r["kind"] for r in read_log(log)) == {"judge": 4}


def test_judge_swaps_by_import_path(tmp_path: Path, log_path: Path) -> None:
    context = fake_context(fake_spec(log_path), judge_node="tests.custom_judge:length_judge")
    result = run_once(tmp_path, "swap", context, small_config())
    assert "judge" not in Counter(r["kind"] for r in read_log(log_path))
    for record in result["records"]["system_prompt"]:
        for cand in record["candidates"]:
            ev = cand["evaluations"][0]
            assert ev["reward"] == 1 + len(ev["output"]) % 5
    assert resolve_judge("holistic").__name__ == "holistic_judge"


def test_prompt_builder_chat_and_completion() -> None:
    icl = [{"query": "Q1", "response": "A1"}]
    messages = build_messages("Be good.", icl, "Q2")
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    text = render_completion(messages)
    assert text.startswith("# Instruction\n\nBe good.")
    assert "# Query:\n```\nQ1\n```\n\n# Answer:\n```\nA1\n```" in text
    assert text.endswith("# Query:\n```\nQ2\n```\n\n# Answer:\n```\n")
    assert clean_completion("The answer.\n```\n\n# Query: next") == "The answer."


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("local", {"provider": "local", "model": "smollm2"}),
        ("local:gemma3-270m", {"provider": "local", "model": "gemma3-270m"}),
        ("openai:gpt-4o-mini", {"provider": "openai", "model": "gpt-4o-mini"}),
        (
            "openai-compatible:qwen@http://127.0.0.1:8000/v1",
            {
                "provider": "openai-compatible",
                "model": "qwen",
                "base_url": "http://127.0.0.1:8000/v1",
            },
        ),
        ("hf:/models/tiny", {"provider": "hf", "model": "/models/tiny"}),
        (
            "fake:latency_ms=5,malformed_rate=0.1",
            {"provider": "fake", "options": {"latency_ms": "5", "malformed_rate": "0.1"}},
        ),
    ],
)
def test_model_specs_parse(spec: str, expected: dict[str, Any]) -> None:
    parsed = parse_spec(spec).model_dump()
    assert {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize("spec", ["gpt-4", "local:llama", "openai-compatible:m", "fake:x=1", ""])
def test_bad_model_specs(spec: str) -> None:
    with pytest.raises(SpecError):
        parse_spec(spec)


def test_one_instance_per_spec() -> None:
    assert get_chat_model("fake:latency_ms=1") is get_chat_model("fake:latency_ms=1")


def test_openai_compatible_key_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRPO_API_KEY", "sk-test-secret")
    model = get_chat_model("openai-compatible:m@http://127.0.0.1:9/v1")
    assert "sk-test-secret" not in repr(model) and "sk-test-secret" not in str(model.model_dump())


def test_a_config_is_validated_each_time_it_is_read() -> None:
    raw = small_config()
    changed = {**raw, "system_prompt": {**raw.get("system_prompt", {}), "W": 3}}
    assert config_of(changed).system_prompt.W == 3 and config_of(raw).system_prompt.W != 3
    with pytest.raises(ValidationError):
        config_of({"no_such_field": 1})
