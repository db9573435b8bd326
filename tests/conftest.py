from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.support.kills import ENV  # noqa: E402  (the environment of drpo subprocesses)
from tests.support.processes import listeners  # noqa: E402
from tests.support.providers import fresh_clients, fresh_provider  # noqa: E402
from tests.support.runs import (  # noqa: E402
    SMALL,
    STOP_AT,
    TINY,
    fake_context,
    fake_spec,
    read_log,
    run_once,
    show,
    small_config,
)

ROOT = Path(__file__).resolve().parents[1]
# the tests' helpers live in tests/support; these names are imported from here too
__all__ = ["ENV", "REACHED", "ROOT", "SMALL", "STOP_AT", "TINY", "fake_context", "fake_spec",
           "fresh_clients", "fresh_provider", "listeners", "read_log", "run_once", "show",
           "small_config"]  # fmt: skip


# pytest-xdist (scripts/test.sh: `-n 2|3 --dist loadgroup --no-loadscope-reorder`) hands the work
# out in units, in the order of the collection: the llama.cpp tests (real models, CPU-bound) as
# one unit, first, so that two of them never fight for the cores; test_postgres.py
# as one, in its order (its tests share the worker's database and aspect store); then every
# other module as a unit of its own (its module-scoped fixtures are made once), those of
# tests/integration first. The units are this scheduler's, not xdist's `xdist_group` suffixes:
# pytest 9.2's structured node ids drop those (pytest-xdist issue 1386); the marks stay for
# `-m` and for tests/integration/conftest.py.
LLAMA = "llamacpp"
GROUPS = {
    LLAMA: ("test_llamacpp_server.py", "test_local_models.py", "test_llamacpp.py",
            "test_evals_local.py", "test_completion_server.py"),
    "postgres": ("test_postgres.py",),
}  # fmt: skip


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its group's name, or its module's path."""
    path = nodeid.split("::", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return next((group for group, files in GROUPS.items() if name in files), path)


def _rank(nodeid: str) -> int:
    unit = unit_of(nodeid)
    order = list(GROUPS)
    return order.index(unit) if unit in order else len(order) + ("integration/" not in unit)


class ModuleScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with unit_of() as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


class _Scheduler:
    """The hook that makes it (registered while xdist is on: pytest refuses an unknown hook)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> ModuleScheduling | None:
        return ModuleScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin is configured
def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Scheduler(), "drpo-module-scheduling")
    # one embedding cache per session, in pytest's temporary root (shared by the xdist workers
    # and their drpo subprocesses; pytest deletes old roots): a seed query is embedded once,
    # later runs do not load torch. tests/integration/test_retrieval.py turns it off.
    if "DRPO_EMBEDDING_CACHE" not in os.environ:
        root = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        root = root.parent if hasattr(config, "workerinput") else root
        os.environ["DRPO_EMBEDDING_CACHE"] = ENV["DRPO_EMBEDDING_CACHE"] = str(
            root / "embeddings.sqlite"
        )


# the ids of every collected test, before -k, -m, --deselect or --lf leave some out
# (tests/unit/test_doc_counts.py counts them)
COLLECTED = pytest.StashKey[list[str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[COLLECTED] = [item.nodeid for item in items]
    for item in items:
        if (unit := unit_of(item.nodeid)) in GROUPS:
            item.add_marker(pytest.mark.xdist_group(unit))
    if hasattr(config, "workerinput"):  # a worker: its collection is the order of the work
        items.sort(key=lambda item: _rank(item.nodeid))


@pytest.fixture()
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


# Property tests record how many generated examples reached each of their assertions
# (tests/properties.py: floor); the counts are printed at the end of the session.
REACHED: dict[str, dict[str, int]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REACHED:
        terminalreporter.section("property tests: generated examples reaching their assertions")
        for name, counts in sorted(REACHED.items()):
            rows = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            terminalreporter.write_line(f"{name}: {rows}")
