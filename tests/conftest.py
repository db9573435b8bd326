from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

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
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # for subprocesses
# the tests' helpers live in tests/support; these names are imported from here too
__all__ = ["ENV", "REACHED", "ROOT", "SMALL", "STOP_AT", "TINY", "fake_context", "fake_spec",
           "fresh_clients", "fresh_provider", "listeners", "read_log", "run_once", "show",
           "small_config"]  # fmt: skip


# pytest-xdist (scripts/test.sh: `-n 2 --dist loadgroup --no-loadscope-reorder`): the order of
# the collection is the order in which the work is handed out. The llama.cpp tests (real models,
# CPU-bound) form one group that starts first on one worker; so do the two modules that start
# `langgraph dev` (its .langgraph_api folder in the checkout is one per cwd), and so do the
# PostgreSQL tests (test_postgres.py, in their order: see GROUPS); a test using a
# module-scoped fixture (a server, a wheel, a run) stays on its module's worker, so that the
# fixture is made once; every other test goes to whichever worker is free.
LLAMA = "llamacpp"
GROUPS = {
    LLAMA: ("test_llamacpp_server.py", "test_local_models.py", "test_llamacpp.py",
            "test_evals_local.py"),
    "langgraph_dev": ("test_server.py", "test_ui_browser.py"),
    # in file order on one database: four runs set up an empty one at once and deadlock
    "postgres": ("test_postgres.py",),
}  # fmt: skip


def _group(item: pytest.Item) -> str | None:
    for name, modules in GROUPS.items():
        if item.path.name in modules:
            return name
    info = getattr(item, "_fixtureinfo", None)
    defs = [d for ds in (info.name2fixturedefs.values() if info else []) for d in ds]
    if any(d.scope in ("module", "class") for d in defs):
        return item.path.name.removesuffix(".py")
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item.nodeid: _group(item) for item in items}
    for item in items:
        if groups[item.nodeid] and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    if config.getoption("dist", "no") == "no":
        return  # one process: the order is the files' order
    first = [*GROUPS, *dict.fromkeys(g for g in groups.values() if g and g not in GROUPS)]
    rank = {name: i for i, name in enumerate(first)}
    items.sort(key=lambda item: rank.get(groups[item.nodeid] or "", len(rank)))


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
