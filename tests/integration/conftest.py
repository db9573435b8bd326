"""Fixtures of the integration tests: the session's PostgreSQL and a headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """DRPO_TEST_PG_URL, or a private cluster started (and removed) for this session."""
    if url := os.environ.get("DRPO_TEST_PG_URL"):
        yield url
        return
    script = str(ROOT / "scripts" / "postgres.sh")
    out = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"cannot start PostgreSQL (scripts/postgres.sh): {out.stderr}"
    env = dict(line.split("=", 1) for line in out.stdout.split())
    try:
        yield env["DRPO_TEST_PG_URL"]
    finally:
        subprocess.run(["bash", script, "stop", env["PGDIR"]], timeout=60, check=False)


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
