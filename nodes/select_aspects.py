"""select_aspects: the dynamic reward's aspects R_q for a query (App. E.1.2).

Selections are cached in the LangGraph store, keyed by selector model and query, so they are
computed once and reused across runs and base models (A.5). Static rewarding uses fixed aspects.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from langgraph.runtime import Runtime

from drpo.aspects import ASPECTS, STATIC_ASPECTS
from drpo.calls import call_json
from drpo.config import Context
from drpo.models import get_chat_model, parse_spec
from drpo.prompts import SELECT_ASPECTS, aspect_list
from drpo.schemas import AspectSelectionReply
from drpo.state import AspectSelection
from nodes.tasks import SelectTask, run_config


def _thread_id() -> str | None:
    from langgraph.config import get_config

    try:
        return cast(str | None, get_config().get("configurable", {}).get("thread_id"))
    except RuntimeError:  # outside a runnable (tests of the node alone)
        return None


def cache_key(selector: str, query: str) -> tuple[tuple[str, ...], str]:
    spec = parse_spec(selector)
    model = hashlib.sha256(f"{spec.provider}|{spec.model}|{spec.base_url}".encode()).hexdigest()
    return ("drpo_aspects", model[:16]), hashlib.sha256(query.encode()).hexdigest()


async def select_aspects(task: SelectTask, runtime: Runtime[Context]) -> dict[str, Any]:
    query, config = task["query"], run_config(task)
    if config.reward == "static":
        static: AspectSelection = {
            "query": query,
            "aspects": {name: ASPECTS[name] for name in STATIC_ASPECTS},
            "reasoning": "static rewarding: the fixed evaluation aspects",
            "source": "static",
        }
        return {"aspects": {query: static}}
    namespace, key = cache_key(runtime.context.selector_model, query)
    store, thread = runtime.store, _thread_id()
    if store is not None and (item := await store.aget(namespace, key)) is not None:
        value = dict(item.value)
        # PostgresStore keeps JSONB, which reorders object keys: restore the selector's order
        # (the judge prompt lists the aspects in it)
        order = value.pop("order", None) or list(value["aspects"])
        value["aspects"] = {name: value["aspects"][name] for name in order}
        if value.pop("thread", None) == thread and thread is not None:
            # this run's own selection, stored by a process killed before its task was saved:
            # the call was this run's, so it counts as one (a resume equals an uninterrupted run)
            own: AspectSelection = {**value, "source": "selector"}  # type: ignore[typeddict-item]
            return {"aspects": {query: own}, "calls": {"selector": 1}}
        cached: AspectSelection = {**value, "source": "cache"}  # type: ignore[typeddict-item]
        return {"aspects": {query: cached}, "calls": {"selector_cache_hits": 1}}
    reply: AspectSelectionReply = await call_json(
        get_chat_model(runtime.context.selector_model),
        AspectSelectionReply,
        SELECT_ASPECTS.format(aspect_list=aspect_list(), query=query),
        name=f"select_aspects for query {query[:60]!r}",
        retries=runtime.context.parse_retries,
        temperature=0.0,
        max_tokens=config.sampling.json_max_tokens,
    )
    selection: AspectSelection = {
        "query": query,
        "aspects": reply.aspects(),
        "reasoning": reply.aspects_selection.reasoning,
        "source": "selector",
    }
    if store is not None:
        order = list(selection["aspects"])
        await store.aput(namespace, key, {**selection, "order": order, "thread": thread})
    return {"aspects": {query: selection}, "calls": {"selector": 1}}
