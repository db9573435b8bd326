"""The LangGraph server's own persistence on our checkpointers (langgraph.json
``checkpointer.path``; see langgraph.persistent.json).

``DRPO_SERVER_CHECKPOINTER`` picks it: a ``postgresql://`` URL (password from ``PGPASSWORD``)
or a SQLite file path (default ``.langgraph_api/drpo-checkpoints.sqlite``). The serializer is
the runs' one: no pickle either way.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from drpo.runtime.checkpointer_url import is_postgres
from drpo.runtime.persistence import SERDE, open_persistence
from drpo.runtime.sqlite_threads import threaded_saver

DEFAULT_SQLITE = ".langgraph_api/drpo-checkpoints.sqlite"


@asynccontextmanager
async def checkpointer() -> AsyncIterator[BaseCheckpointSaver[str]]:
    target = os.environ.get("DRPO_SERVER_CHECKPOINTER") or DEFAULT_SQLITE
    if is_postgres(target):
        async with open_persistence(Path("."), Path("."), target) as (saver, _store):
            yield saver
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    async with threaded_saver(target, SERDE) as saver:
        yield saver
