"""Run, resume and read DRPO runs: the graph compiled with a SQLite checkpointer per run.

Layout: RUN_DIR/<run-id>/{run.json, checkpoints.sqlite, result.json}; RUN_DIR/store.sqlite holds
the LangGraph store shared by the runs of RUN_DIR (the aspect-selection cache lives there).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from pydantic import ValidationError

from drpo.core.config import RunConfig
from drpo.core.context import Context
from drpo.core.files import create_exclusive, write_atomic
from drpo.core.provenance import history_of, initial_history, record_switches
from drpo.core.records import remembered
from drpo.llm.provider_errors import ProviderErrors
from drpo.runtime import file_checks
from drpo.runtime.cache import cache_file, open_session
from drpo.runtime.checkpointer_url import check_url, redact
from drpo.runtime.file_checks import StateFileError
from drpo.runtime.persistence import holds_thread, open_persistence
from drpo.runtime.progress import Progress, level_line, selection_line
from drpo.runtime.run_record import provider_facts, structured_methods
from drpo.runtime.runlock import hold, one_writer
from drpo.runtime.stopping import graceful_stop, paused_error
from drpo.runtime.summary import streamed_row, summarize_run
from graph import builder

# The imported libraries' objects (~180k) live as long as the process: frozen out of the
# cyclic collector, which would otherwise re-scan them in every full collection (~0.1 s each).
gc.freeze()

# The shape of a run's checkpoints and store items (run.json "format"). A run of another format
# (an older drpo's) is refused in one line: its checkpoints are not read.
FORMAT = 3


@functools.cache
def _compiled() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph compiled once per process; each run takes a copy on its own checkpointer and
    store (``Pregel.copy``), which skips compiling's source inspection (~10 ms a run)."""
    return builder.compile()


class RunError(ValueError):
    """A run that cannot be started, resumed or read as asked (bad id, existing run, ...)."""


class Run:
    def __init__(
        self,
        run_dir: str | Path,
        run_id: str,
        checkpointer: str | None = None,
        read_only: bool = False,
    ) -> None:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise RunError(f"invalid run id {run_id!r}")
        check_url(checkpointer)
        self.root = Path(run_dir)
        self.id = run_id
        self.dir = self.root / run_id
        # a postgresql:// URL, else SQLite in the run dir; resume reads it back from run.json
        # (without its password: libpq takes PGPASSWORD or ~/.pgpass)
        self.checkpointer = checkpointer
        self.read_only = read_only  # show, export: the checkpointer writes nothing

    @property
    def meta_file(self) -> Path:
        return self.dir / "run.json"

    @property
    def thread(self) -> RunnableConfig:
        return {"configurable": {"thread_id": self.id}}

    def exists(self) -> bool:
        return self.meta_file.exists()

    def meta(self) -> dict[str, Any]:
        """run.json; a missing or damaged one is an error that names it."""
        meta = file_checks.read_meta(self.meta_file)
        if meta is None:
            raise RunError(f"no run {self.id!r} in {self.root}")
        return meta

    def create(
        self, config: RunConfig, context: Context, extra: dict[str, Any] | None = None
    ) -> None:
        if self.exists():
            raise RunError(
                f"run {self.id!r} already exists in {self.root}; use `drpo resume {self.id}`"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "run_id": self.id,
            "created": time.time(),
            "config": config.model_dump(),
            "context": asdict(context),
            "checkpointer": redact(self.checkpointer) if self.checkpointer else None,
            "model_history": initial_history(context),
            "format": FORMAT,
            **(extra or {}),
        }
        try:  # exclusive: of two processes creating one run, one wins
            create_exclusive(self.meta_file, json.dumps(meta, indent=2))
        except FileExistsError:
            raise RunError(f"run {self.id!r} already exists in {self.root}") from None

    def save_context(self, context: Context, start: dict[str, Any] | None = None) -> None:
        """Record changed model specs; run.json's model history keeps each switch per role
        with the stage and level it starts from (drpo/core/provenance.py)."""
        meta = self.meta()
        meta["model_history"] = record_switches(meta, context, start or {})
        meta["context"] = asdict(context)
        write_atomic(self.meta_file, json.dumps(meta, indent=2))

    def model_history(self) -> dict[str, list[dict[str, Any]]]:
        return history_of(self.meta())

    def write_result(self, result: dict[str, Any]) -> None:
        """result.json, atomically; one line: json's C encoder (``indent=`` takes the
        pure-Python one, ~10x slower on the level records)."""
        write_atomic(self.dir / "result.json", json.dumps(result))

    def load(self) -> tuple[RunConfig, Context]:
        meta = self.meta()
        if meta.get("format") != FORMAT:
            raise RunError(
                f"run {self.id!r} was written by another version of drpo (run format "
                f"{meta.get('format', meta.get('layout', 1))}); this one reads format {FORMAT}: "
                "start a new run with drpo optimize"
            )
        try:
            return RunConfig.model_validate(meta["config"]), Context(**meta["context"])
        except (ValidationError, TypeError) as exc:
            raise StateFileError(f"{self.meta_file}: invalid config or context ({exc})") from None

    def reader(self) -> Run:
        """This run, opened read-only (its checkpointer writes nothing)."""
        return Run(self.root, self.id, self.checkpointer, read_only=True)

    def writer(self, wait: bool = False) -> AbstractAsyncContextManager[None]:
        """Hold this run's lock (drpo/runtime/runlock.py): one writer per run."""
        return hold(self, wait)

    def _url(self) -> str | None:
        if self.checkpointer is None and self.exists():
            return cast(str | None, self.meta().get("checkpointer"))
        return self.checkpointer

    def check_files(self, llm_cache: str | None = "off") -> None:
        """Read-only checks of the files a writer needs (``llm_cache``: the context's)."""
        cache = None if llm_cache == "off" else cache_file(self.root, llm_cache)
        file_checks.check_run(self.dir, self.root, self._url(), cache)

    def input(self, config: RunConfig) -> dict[str, Any]:
        """The graph input of a new run: its config and, with --icl-from, the reused ICL set."""
        payload: dict[str, Any] = {"config": config.model_dump()}
        icl_from = self.meta().get("icl_from")
        if icl_from:
            payload["icl_examples"] = icl_from["examples"]
        return payload

    @asynccontextmanager
    async def graph(self) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
        """The graph on this run's checkpointer and the run dir's store (none if read-only)."""
        url = self._url()
        # reads the files and checksums the WALs: off the event loop (the inspector's server)
        checked = (self.dir, self.root, url, None, self.read_only)
        await asyncio.to_thread(file_checks.check_run, *checked)
        async with (
            file_checks.reading(self.dir, url, self.read_only),
            open_persistence(self.dir, self.root, url, self.read_only) as (saver, store),
        ):
            if (await saver.aget_tuple(self.thread)) is None:
                file_checks.no_checkpoints(self.dir, self.id, url)
            yield _compiled().copy({"checkpointer": saver, "store": store})

    @asynccontextmanager
    async def counting(self, errors: ProviderErrors) -> AsyncIterator[None]:
        """Add this process's provider errors to run.json's totals, even when the run fails."""
        try:
            yield
        finally:
            if errors.counts:
                meta = self.meta()
                total = Counter(meta.get("provider_errors", {})) + errors.counts
                meta["provider_errors"] = dict(sorted(total.items()))
                write_atomic(self.meta_file, json.dumps(meta, indent=2))

    async def has_checkpoints(self) -> bool:
        """Whether the checkpointer already holds this thread (a shared Postgres database)."""
        return await holds_thread(self.dir, self.root, self._url(), self.thread)




def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@one_writer  # the run's lock (drpo/runtime/runlock.py); usage and budget are read under it
async def execute(
    run: Run, resume: bool, progress: Progress = _stderr, command: Command[Any] | None = None
) -> dict[str, Any]:
    """Start or continue the run (``command``: answer a pending interrupt); prints progress;
    returns the summary of the final state."""
    config, context = run.load()
    started = time.monotonic()
    session = open_session(run.dir, run.root, context, config)  # cache, budgets, prices, rps
    errors = session.errors  # failed provider requests (retried by RetryPolicy or fatal)
    seen: list[dict[str, Any]] = []  # the checkpoints this process makes (for the summary)
    async with run.graph() as g:
        async with (
            run.counting(errors),
            session.active(),
            remembered(),  # the lineages and plan this execution writes (drpo.core.records)
            structured_methods(run.meta_file, context),  # recorded per model: no re-probing
            graceful_stop(run.dir, session, progress),  # SIGINT/SIGTERM, RUN_DIR/<id>/STOP
        ):
            snapshot = await g.aget_state(run.thread)
            if resume and not snapshot.next and snapshot.values:
                progress(f"run {run.id} has already finished")
                return await summary(run)
            payload: Any = None if resume and snapshot.values else run.input(config)
            if command is not None:
                payload = command
            closed = (snapshot.values or {}).get("closed")
            # one event per superstep (its checkpoint), none per task: a level's progress
            # line is read from the checkpoint after its prune_beam
            async for chunk in g.astream(
                payload,
                # max_concurrency: LangGraph's bound on the tasks of a superstep
                {**run.thread, "max_concurrency": context.max_concurrency},
                context=context,
                stream_mode="checkpoints",
                durability="sync",
            ):
                seen.append(streamed_row(chunk))
                values = chunk.get("values") or {}
                if values.get("closed") not in (None, closed):
                    closed = values["closed"]
                    progress(level_line(values, time.monotonic() - started))
                    if errors.counts:
                        progress(f"  provider errors so far (retried): {errors}")
                nxt = list(chunk.get("next") or [])
                if line := selection_line(values, nxt, time.monotonic() - started):
                    progress(line)
        # run.json now has this process's provider errors and structured-output methods
        progress(f"model calls (cache hits) per role: {session.usage.describe()}")
        result = await summary(run, g, seen)
    if session.stopped:  # budget spent or stop requested: saved at a superstep boundary
        raise paused_error(run.id, run.root, session, result)
    run.write_result(result)
    return result


async def summary(
    run: Run,
    g: CompiledStateGraph[Any, Any, Any, Any] | None = None,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What `drpo show` prints: best prompt, ICL examples, levels with beams, calls per role.
    ``g``: the run's graph if it is open; ``seen``: the checkpoints it streamed."""
    if g is None:
        async with run.graph() as opened:
            return await summary(run, opened)
    return {
        **await summarize_run(g, run.id, run.meta(), run.dir, seen or ()),
        **provider_facts(run.dir),  # spent_usd, structured_output (method per model)
    }
