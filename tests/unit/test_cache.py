"""The persistent LLM-call cache: keys, re-runs without model calls, hits per role, JSON only."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from drpo.core.schemas import PromptTransitionReply
from drpo.llm.backends.registry import get_chat_model, with_params
from drpo.llm.calls import call_json, call_text
from drpo.llm.session import Session
from drpo.llm.usage import Usage
from drpo.runtime.cache import LLMCache
from drpo.runtime.file_checks import StateFileError
from tests.conftest import fake_context, fake_spec, read_log, run_once, small_config
from tests.support.runs import comparable

ROLE_OF_KIND = {
    "select": "selector",
    "transition": "optimizer",
    "generate": "base",
    "judge": "judge",
}


async def _calls(spec: str, cache: Path, params: list[dict[str, Any]]) -> list[str]:
    model = get_chat_model(spec)
    async with Session(usage=Usage(), cache=LLMCache(cache)).active():
        return [await call_text(model, [HumanMessage("Name a colour.")], **p) for p in params]


def test_key_separates_samples_and_parameters(tmp_path: Path, log_path: Path) -> None:
    spec, db = fake_spec(log_path), tmp_path / "cache.sqlite"
    params = [
        {"temperature": 0.7, "seed": 1},
        {"temperature": 0.7, "seed": 1},  # the same call: a hit
        {"temperature": 0.7, "seed": 2},  # another sample index
        {"temperature": 0.2, "seed": 1},  # another temperature
        {"temperature": 0.7, "seed": 1, "max_tokens": 64},  # another token limit
    ]
    replies = asyncio.run(_calls(spec, db, params))
    assert len(read_log(log_path)) == 4
    assert replies[0] == replies[1] and replies[0] != replies[2]
    # the same calls again in a new session (a resume): all answered from the cache
    assert asyncio.run(_calls(spec, db, params)) == replies
    assert len(read_log(log_path)) == 4
    # another model spec never shares entries
    other = fake_spec(tmp_path / "other.jsonl", malformed_rate=0)
    asyncio.run(_calls(other, db, params[:1]))
    assert len(read_log(tmp_path / "other.jsonl")) == 1
    # values are JSON (LangChain's serialisation), never pickle
    with sqlite3.connect(db) as con:
        for (value,) in con.execute("SELECT value FROM llm_cache"):
            assert json.loads(value)[0]["message"]["data"]["content"]


def test_structured_samples_stay_distinct(tmp_path: Path, log_path: Path) -> None:
    async def sample(seed: int) -> PromptTransitionReply:
        async with Session(usage=Usage(), cache=LLMCache(tmp_path / "c.sqlite")).active():
            reply: PromptTransitionReply = await call_json(
                get_chat_model(fake_spec(log_path)),
                PromptTransitionReply,
                "## Current system prompt\nBe brief.\n\n## Feedback\nnone",
                name="t",
                retries=1,
                temperature=0.7,
                seed=seed,
            )
            return reply

    texts = [asyncio.run(sample(seed)).new_system_prompt for seed in (1, 2, 3, 1)]
    assert len(set(texts[:3])) == 3 and texts[3] == texts[0]
    assert len(read_log(log_path)) == 3


def test_openai_copies_with_new_parameters_get_new_keys() -> None:
    """with_params copies the model; LangChain's key must see the copy's parameters even when
    the original already cached its serialised form."""
    model = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key=SecretStr("sk-x"))
    model._get_llm_string()  # caches ``_serialized`` on the original
    keys = {
        with_params(model, p)._get_llm_string()
        for p in ({"seed": 1, "temperature": 0.7}, {"seed": 2, "temperature": 0.7}, {"seed": 1})
    }
    assert len(keys) == 3
    assert all("sk-x" not in key for key in keys)


def test_rerun_makes_no_model_calls_and_counts_hits_per_role(
    tmp_path: Path, log_path: Path
) -> None:
    context = fake_context(fake_spec(log_path))
    first = run_once(tmp_path, "first", context, small_config(K=0))
    made = Counter(ROLE_OF_KIND[row["kind"]] for row in read_log(log_path))
    usage = first["usage"]
    assert {role: row["calls"] for role, row in usage.items()} == made
    assert all(row["output_tokens"] > 0 for row in usage.values())
    # the same config again (a new run in the same run dir): 0 model calls, the same result
    second = run_once(tmp_path, "second", context, small_config(K=0))
    assert len(read_log(log_path)) == sum(made.values())
    for key in ("best_system_prompt", "best_reward", "icl_examples", "levels"):
        assert comparable(second)[key] == comparable(first)[key], key
    hits = {role: row["cache_hits"] for role, row in second["usage"].items()}
    assert all(row["calls"] == 0 for row in second["usage"].values())
    # selections come from the LangGraph store's aspect cache before any model is asked
    assert hits == {role: n for role, n in made.items() if role != "selector"}


def test_cache_on_and_off_make_the_same_calls(tmp_path: Path) -> None:
    """Within one run no two different calls share a key: with the cache the run makes exactly
    the model calls it makes without one."""
    results, logs = {}, {}
    for mode in ("on", "off"):
        log = tmp_path / f"{mode}.jsonl"
        # one call at a time, so that every lookup sees all the entries written before it
        cache = None if mode == "on" else "off"
        context = fake_context(fake_spec(log), llm_cache=cache, max_concurrency=1)
        results[mode] = run_once(tmp_path / mode, "r", context, small_config(M=3, K=0))
        logs[mode] = sorted((r["kind"], r["key"]) for r in read_log(log))
    assert logs["on"] == logs["off"]
    assert results["on"]["best_system_prompt"] == results["off"]["best_system_prompt"]
    assert not (tmp_path / "off" / "llm_cache.sqlite").exists()


def _open_at(args: tuple[str, Any]) -> str:
    path, barrier = args
    barrier.wait()
    try:
        LLMCache(path).close()
        return "ok"
    except Exception as exc:  # the failure under test: a half-made file seen by another run
        return f"{type(exc).__name__}: {exc}"


def test_runs_creating_one_cache_at_once_never_see_a_half_made_file(tmp_path: Path) -> None:
    """Concurrent runs of one run dir create the shared cache (and store) at once: the file
    appears whole (built aside, linked into place), never as the 0 bytes a check refuses."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(6) as pool:
        for round_ in range(15):
            barrier = manager.Barrier(6)
            path = str(tmp_path / f"c{round_}" / "llm_cache.sqlite")
            outcomes = pool.map(_open_at, [(path, barrier)] * 6)
            assert outcomes == ["ok"] * 6, outcomes
            assert not [p.name for p in Path(path).parent.iterdir() if p.name.endswith(".new")]


def test_a_miss_reads_nothing_and_entries_of_other_processes_show_on_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.sqlite"
    cache, reads = LLMCache(path), []
    cache._db.set_trace_callback(reads.append)
    assert not cache.may_hold("k") and cache.get("k") is None
    assert reads == []  # a sure miss: no SQL (nor, in the hooks, a thread)
    cache.put("k", "fake", "v1")
    assert cache.may_hold("k") and cache.get("k") == "v1"
    other = LLMCache(path)  # opened after the put: holds it
    assert other.get("k") == "v1"
    other.put("j", "fake", "v2")
    assert cache.get("j") is None  # written by another opener since: not seen ...
    assert LLMCache(path).get("j") == "v2"  # ... until the cache is opened again
    cache.clear()
    assert not cache.may_hold("k") and len(cache) == 0
    for opened in (cache, other):
        opened.close()


def test_entries_written_behind_are_read_at_once_and_all_written_on_close(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.sqlite"
    cache = LLMCache(path)
    for i in range(200):
        cache.put_later(f"k{i}", "fake", f"v{i}")
        assert cache.get(f"k{i}") == f"v{i}"  # queued or written: found either way
    cache.close()
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0] == 200
    reopened = LLMCache(path)
    assert reopened.get("k199") == "v199"
    reopened.close()


def test_a_failed_write_behind_stops_the_next_call_with_the_cache_named(tmp_path: Path) -> None:
    cache = LLMCache(tmp_path / "c.sqlite")
    with cache._lock:
        cache._db.execute("DROP TABLE llm_cache")  # the writer's next INSERT fails
    cache.put_later("a", "fake", "1")
    with pytest.raises(StateFileError, match="c.sqlite: the LLM-call cache cannot be used"):
        for _ in range(100):  # the failure lands once the writer has tried
            cache.put_later("b", "fake", "2")
            time.sleep(0.01)
    with pytest.raises(StateFileError):
        cache.close()


def test_the_key_of_a_lookup_is_kept_for_its_update_and_equals_a_fresh_one() -> None:
    from drpo.llm.model_hooks import _key_of, cache_key

    prompt, llm = json.dumps(["a prompt"]), json.dumps({"temperature": 0.5})
    key = _key_of("spec", prompt, llm)
    assert key == cache_key("spec", prompt, llm)
    # equal text in new objects (the next call) is hashed again: the same key, computed afresh
    again = json.dumps(["a prompt"])
    assert again is not prompt and _key_of("spec", again, llm) == key
    # another model's cache (namespace) with the same objects never gets this key
    assert _key_of("other", again, llm) == cache_key("other", again, llm) != key
