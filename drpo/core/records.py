"""Level records and prompt lineages, written once per level to the LangGraph store.

The checkpointed state stays flat (beams and the current level); what ``drpo show``, the
inspector, validation and the optimizer's "former prompts" need from past levels is kept here:

  ("drpo_levels", THREAD)   "<stage>:<level>"  -> {"stage", "level", "tracks": [LevelRecord]}
  ("drpo_lineage", THREAD)  "<candidate id>"   -> {"stage", "level", "former": [texts]}
  ("drpo_plan", THREAD)     "seeds"            -> {"seeds": the shuffled seed order X}

A level re-run (resume, or a fork in the same thread) overwrites its own keys; a fork into a
new thread starts from a copy of its parent's items up to the fork level (``copy_records``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from langgraph.store.base import BaseStore

from drpo.core.state import STAGES, LevelRecord

LEVELS = "drpo_levels"
LINEAGE = "drpo_lineage"
PLAN = "drpo_plan"
_PAGE = 500


_KNOWN: ContextVar[dict[tuple[str, str, str], Any] | None] = ContextVar(
    "drpo_known_records", default=None
)


@asynccontextmanager
async def remembered() -> AsyncIterator[None]:
    """While a run executes holding its lock, on a store it opened: keep the lineages and seed
    plan it writes or reads (``_known``; LangGraph tasks inherit the context)."""
    token = _KNOWN.set({})
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _known() -> dict[tuple[str, str, str], Any]:
    """The lineages and seed plan the running execution wrote or read: nothing else writes them
    meanwhile, so a transition reads its parent's former prompts, a level its plan, without a
    store round trip. Outside ``remembered`` (LangGraph's server, whose store clients may edit)
    nothing is kept."""
    known = _KNOWN.get()
    return known if known is not None else {}


class StoreRequired(ValueError):
    """The graph ran without a LangGraph store."""


def require_store(store: BaseStore | None) -> BaseStore:
    if store is None:
        raise StoreRequired(
            "DRPO keeps level records in a LangGraph store: compile the graph with "
            "store=... (the CLI and `langgraph dev` provide one)"
        )
    return store


def level_key(stage: str, level: int) -> str:
    return f"{stage}:{level:04d}"


def thread_of(runtime: Any) -> str:
    info = getattr(runtime, "execution_info", None)
    return (info.thread_id if info is not None else None) or "default"


async def write_level(
    store: BaseStore, thread: str, stage: str, level: int, records: list[LevelRecord]
) -> None:
    value = {"stage": stage, "level": level, "tracks": records}
    await store.aput((LEVELS, thread), level_key(stage, level), value, index=False)


async def write_lineage(
    store: BaseStore, thread: str, stage: str, level: int, cid: str, former: list[str]
) -> None:
    value = {"stage": stage, "level": level, "former": former}
    await store.aput((LINEAGE, thread), cid, value, index=False)
    _known()[LINEAGE, thread, cid] = tuple(former)


async def read_former(store: BaseStore, thread: str, cid: str) -> list[str]:
    known = _known()
    if (LINEAGE, thread, cid) not in known:
        item = await store.aget((LINEAGE, thread), cid, refresh_ttl=False)
        if item is None:
            return []
        known[LINEAGE, thread, cid] = tuple(item.value["former"])
    return list(known[LINEAGE, thread, cid])


async def write_plan(store: BaseStore, thread: str, seeds: list[str]) -> None:
    await store.aput((PLAN, thread), "seeds", {"seeds": seeds}, index=False)
    _known()[PLAN, thread, "seeds"] = tuple(seeds)


async def read_plan(store: BaseStore | None, thread: str) -> list[str]:
    known = _known()
    if (PLAN, thread, "seeds") not in known:
        # a search, not a get: PostgresStore's get is an UPDATE ... RETURNING, which a
        # read-only transaction (show, export) refuses
        found = await _items(require_store(store), (PLAN, thread))
        items = [i for i in found if i["key"] == "seeds"]
        if not items:
            raise ValueError(f"no seed plan in the store for thread {thread!r}")
        known[PLAN, thread, "seeds"] = tuple(items[0]["value"]["seeds"])
    return list(known[PLAN, thread, "seeds"])


async def _items(store: BaseStore, namespace: tuple[str, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = await store.asearch(namespace, limit=_PAGE, offset=len(out), refresh_ttl=False)
        out.extend({"key": i.key, "value": i.value} for i in page)
        if len(page) < _PAGE:
            return out


async def read_levels(store: BaseStore, thread: str) -> dict[str, list[LevelRecord]]:
    """Every level record of a thread, by stage, in level order (tracks sorted)."""
    return group_levels([i["value"] for i in await _items(store, (LEVELS, thread))])


def group_levels(values: list[dict[str, Any]]) -> dict[str, list[LevelRecord]]:
    """The values of a thread's level items (any store client) by stage, in level order."""
    out: dict[str, list[LevelRecord]] = {stage: [] for stage in STAGES}
    for value in sorted(values, key=lambda v: (STAGES.index(v["stage"]), v["level"])):
        out[value["stage"]].extend(sorted(value["tracks"], key=lambda r: r["track"]))
    return out


def _upto(value: dict[str, Any], stage: str, level: int) -> bool:
    order = STAGES.index(value["stage"]), value["level"]
    return bool(order <= (STAGES.index(stage), level))


async def copy_records(
    src: BaseStore, src_thread: str, dst: BaseStore, dst_thread: str, stage: str, level: int
) -> int:
    """Copy a thread's records and lineages up to (stage, level) into another thread."""
    picked = [  # read everything first: the source may be a read-only view of the same file
        (namespace, item)
        for namespace in (LEVELS, LINEAGE, PLAN)
        for item in await _items(src, (namespace, src_thread))
        if namespace == PLAN or _upto(item["value"], stage, level)
    ]
    known = _known()
    for namespace, item in picked:
        await dst.aput((namespace, dst_thread), item["key"], item["value"], index=False)
        known.pop((namespace, dst_thread, item["key"]), None)
    return len(picked)
