"""Lineages and the seed plan: one store read per execution, the store read again without a
session, a fork's copy seen over what the execution knew; a level's aspects read in one batch."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any

from langgraph.runtime import Runtime
from langgraph.store.base import GetOp, Op, PutOp, Result, SearchOp
from langgraph.store.memory import InMemoryStore

from drpo.core.config import RunConfig
from drpo.core.records import (
    LINEAGE,
    copy_records,
    read_former,
    read_plan,
    remembered,
    write_lineage,
    write_plan,
)
from nodes.select_aspects import cache_key, lookup_aspects
from tests.conftest import fake_context


class CountingStore(InMemoryStore):
    """An in-memory store that counts its batches and the reads in them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()
        self.batches = 0

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        self.batches += 1
        self.reads.update(type(op).__name__ for op in ops if not isinstance(op, PutOp))
        return await super().abatch(ops)


def test_lineage_and_plan_are_read_from_the_store_once_per_execution() -> None:
    async def scenario() -> None:
        store = CountingStore()
        async with remembered():  # as a run's execution is (drpo/runtime/runner.py)
            await write_plan(store, "t", ["q1", "q2"])
            await write_lineage(store, "t", "system_prompt", 1, "c1", ["p0"])
            assert await read_plan(store, "t") == ["q1", "q2"]
            assert await read_former(store, "t", "c1") == ["p0"]
            assert store.reads == Counter()  # what this execution wrote
            # written by an earlier process: read once, then known
            old = {"stage": "system_prompt", "level": 0, "former": ["old"]}
            await store.aput((LINEAGE, "t"), "c0", old, index=False)
            assert await read_former(store, "t", "c0") == ["old"]
            assert await read_former(store, "t", "c0") == ["old"]
            assert store.reads == Counter({GetOp.__name__: 1})
            assert await read_former(store, "t", "none") == []
            # a fork's copy into a thread replaces what the execution knew of it
            await write_lineage(store, "f", "system_prompt", 1, "c1", ["stale"])
            assert await copy_records(store, "t", store, "f", "system_prompt", 1) == 3
            assert await read_former(store, "f", "c1") == ["p0"]
            assert await read_plan(store, "f") == ["q1", "q2"]
        # outside an execution (LangGraph's server, whose clients may edit the store): always read
        before = sum(store.reads.values())
        await store.aput((LINEAGE, "t"), "c1", {"former": ["edited"]}, index=False)
        assert await read_former(store, "t", "c1") == ["edited"]
        assert await read_plan(store, "t") == ["q1", "q2"]
        assert sum(store.reads.values()) == before + 2

    asyncio.run(scenario())


def test_a_levels_aspects_are_read_in_one_batch() -> None:
    async def scenario() -> None:
        store = CountingStore()
        context = fake_context("fake")
        queries = ["q1", "q2", "q3"]
        for i, q in enumerate(queries):
            namespace, key = cache_key(context.selector_model, q)
            aspects = {"Helpfulness": "helps", f"A{i}": "new"}
            value = {"query": q, "aspects": aspects, "reasoning": "r", "source": "selector"}
            await store.aput(namespace, key, {**value, "order": list(aspects), "thread": "t"})
        store.reads.clear()
        store.batches = 0
        runtime: Runtime[Any] = Runtime(context=context, store=store)
        found, calls = await lookup_aspects(runtime, RunConfig(), "system_prompt", queries)
        assert store.batches == 1 and store.reads == Counter({GetOp.__name__: 3})
        assert calls == {} and list(found) == queries
        assert [list(found[q]["aspects"]) for q in queries] == [
            ["Helpfulness", f"A{i}"] for i in range(3)
        ]
        assert {found[q]["source"] for q in queries} == {"cache"}
        assert SearchOp.__name__ not in store.reads

    asyncio.run(scenario())
