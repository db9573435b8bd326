"""Fixtures of the integration tests: the session's PostgreSQL (a database of its own for each
pytest-xdist worker), a headless Chromium, and llama.cpp's threads in a parallel run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from drpo.llm.backends import llamacpp
from tests.conftest import LLAMA
from tests.support.processes import llama_threads

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """DRPO_TEST_PG_URL, or a private cluster started (and removed) for this session. Each
    pytest-xdist worker gets a fresh database of its own on it (drpo_gw0, ...): the tests of one
    worker share their database, and its aspect store, as a run on one process did."""
    if url := os.environ.get("DRPO_TEST_PG_URL"):
        yield _database(url)
        return
    script = str(ROOT / "scripts" / "postgres.sh")
    out = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"cannot start PostgreSQL (scripts/postgres.sh): {out.stderr}"
    env = dict(line.split("=", 1) for line in out.stdout.split())
    try:
        yield _database(env["DRPO_TEST_PG_URL"])
    finally:
        subprocess.run(["bash", script, "stop", env["PGDIR"]], timeout=60, check=False)


def _database(url: str) -> str:
    """``url`` itself in a run without workers, else a new database for this worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    return fresh_database(url, f"drpo_{worker}")


def fresh_database(url: str, name: str) -> str:
    """A new, empty database ``name`` on the cluster of ``url`` (dropped first if it exists)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(autouse=True)
def _llama_threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a parallel run, the in-process llama.cpp models of the llama.cpp group run on
    llama_threads() threads (one), as the llama.cpp server of the tests does."""
    mark = request.node.get_closest_marker("xdist_group")
    if mark is None or mark.args[:1] != (LLAMA,) or llama_threads() == (os.cpu_count() or 1):
        return
    real, threads = llamacpp.Llama, llama_threads()

    def llama(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "n_threads": threads})

    monkeypatch.setattr(llamacpp, "Llama", llama)


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    """Headless Debian Chromium through selenium and the system chromedriver (no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromedriver come from scripts/setup.sh (apt)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()
