"""select_aspects: the dynamic reward's aspects R_q for a query (App. E.1.2).

Every query a run scores is known after load_data, so all selections run up front, side by
side, off the levels' critical path. Selections live in the LangGraph store, keyed by selector
model and query: computed once, reused across runs, resumes and forks (A.5). The state keeps
only the current level's (``lookup_aspects``). Static rewarding uses the fixed aspects.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, GetOp, Item

from drpo.core.aspects import ASPECTS, STATIC_ASPECTS
from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.meta_prompts import SELECT_ASPECTS, aspect_list
from drpo.core.records import require_store, thread_of
from drpo.core.schemas import AspectSelectionReply
from drpo.core.state import AspectSelection, SelectTask
from drpo.llm.backends.registry import get_chat_model, parse_spec
from drpo.llm.calls import call_json


def cache_key(selector: str, query: str) -> tuple[tuple[str, ...], str]:
    spec = parse_spec(selector)
    model = hashlib.sha256(f"{spec.provider}|{spec.model}|{spec.base_url}".encode()).hexdigest()
    return ("drpo_aspects", model[:16]), hashlib.sha256(query.encode()).hexdigest()


def static_selection(query: str) -> AspectSelection:
    return {
        "query": query,
        "aspects": {name: ASPECTS[name] for name in STATIC_ASPECTS},
        "reasoning": "static rewarding: the fixed evaluation aspects",
        "source": "static",
    }


async def _cached(
    store: BaseStore, selector: str, query: str
) -> tuple[AspectSelection, str | None] | None:
    """A stored selection and the thread whose call made it."""
    namespace, key = cache_key(selector, query)
    return _stored(await store.aget(namespace, key, refresh_ttl=False))


async def _cached_all(
    store: BaseStore, selector: str, queries: list[str]
) -> list[AspectSelection | None]:
    """The stored selections of several queries, read in one batch (one store round trip)."""
    found = await store.abatch([GetOp(*cache_key(selector, q), refresh_ttl=False) for q in queries])
    return [hit[0] if (hit := _stored(cast(Item | None, item))) else None for item in found]


def _stored(item: Item | None) -> tuple[AspectSelection, str | None] | None:
    if item is None:
        return None
    value = dict(item.value)
    # PostgresStore keeps JSONB, which reorders object keys: restore the selector's order
    # (the judge prompt lists the aspects in it)
    order = value.pop("order", None) or list(value["aspects"])
    value["aspects"] = {name: value["aspects"][name] for name in order}
    thread = value.pop("thread", None)
    return cast(AspectSelection, {**value, "source": "cache"}), thread


async def select_one(
    store: BaseStore, selector: str, query: str, max_tokens: int, runtime: Runtime[Context]
) -> tuple[AspectSelection, dict[str, int]]:
    """The selection of one query (from the store, else asked of the selector and stored).
    A selection this run's own thread stored (its process was killed before the task was saved)
    counts as the run's call, so that a resumed run counts what an uninterrupted one does."""
    thread = thread_of(runtime)
    if (found := await _cached(store, selector, query)) is not None:
        stored, owner = found
        if owner == thread:
            return {**stored, "source": "selector"}, {"selector": 1}
        return stored, {"selector_cache_hits": 1}
    reply: AspectSelectionReply = await call_json(
        get_chat_model(selector),
        AspectSelectionReply,
        SELECT_ASPECTS.format(aspect_list=aspect_list(), query=query),
        name=f"select_aspects for query {query[:60]!r}",
        retries=runtime.context.parse_retries,
        temperature=0.0,
        max_tokens=max_tokens,
    )
    selection: AspectSelection = {
        "query": query,
        "aspects": reply.aspects(),
        "reasoning": reply.aspects_selection.reasoning,
        "source": "selector",
    }
    namespace, key = cache_key(selector, query)
    order = list(selection["aspects"])
    await store.aput(namespace, key, {**selection, "order": order, "thread": thread})
    return selection, {"selector": 1}


async def select_aspects(task: SelectTask, runtime: Runtime[Context]) -> dict[str, Any]:
    store = require_store(runtime.store)
    selector = runtime.context.selector_model
    _, calls = await select_one(store, selector, task["query"], task["max_tokens"], runtime)
    return {"calls": calls}


async def lookup_aspects(
    runtime: Runtime[Context],
    config: RunConfig,
    stage: str,
    queries: list[str],
    up_front: bool = True,
) -> tuple[dict[str, AspectSelection], dict[str, int]]:
    """The selections of a level's queries, made up front by select_aspects. A query planned
    after the fact (a fork with another D, B or selector) is selected here, on the spot; so are
    validation and confirmation queries (``up_front=False``: each counted as select_aspects
    counts it, a call or a hit of the shared store)."""
    if config.stage_reward(stage) == "static":
        return {q: static_selection(q) for q in queries}, {}
    store, selector = require_store(runtime.store), runtime.context.selector_model
    found = dict(zip(queries, await _cached_all(store, selector, queries), strict=True))
    if not up_front:
        found = dict.fromkeys(queries)
    missing = [q for q, sel in found.items() if sel is None]
    cap = config.sampling.json_max_tokens
    made = await asyncio.gather(*(select_one(store, selector, q, cap, runtime) for q in missing))
    calls: dict[str, int] = {}
    for q, (selection, used) in zip(missing, made, strict=True):
        found[q] = selection
        for counter, n in used.items():  # selector calls, or hits of the shared store
            calls[counter] = calls.get(counter, 0) + n
    return {q: sel for q, sel in found.items() if sel is not None}, calls
