"""The inspector page in headless Debian Chromium (selenium, system chromedriver, no download):
`drpo ui` over a live approval-gated run: open it, read the levels, edit/approve, fork, replay."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from drpo.cli import main
from tests.test_serve import ENV, free_port

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FAKE = ["--models", "fake", "--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "3"]


@pytest.fixture()
def ui(tmp_path: Path) -> Iterator[str]:
    args = ["optimize", "--run-dir", str(tmp_path), "--run-id", "live", "--approve", *FAKE]
    assert main(args) == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(tmp_path), "--port", str(port)],
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/ui/api/runs", timeout=2)
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "drpo ui did not start"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM and DRIVER, "chromium and chromedriver come from scripts/setup.sh (apt)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_inspect_and_steer_a_run(ui: str, browser: WebDriver, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    with urllib.request.urlopen(ui + "/studio/") as res:  # the alias for --studio-url
        assert b"DRPO inspector" in res.read()
    browser.get(ui + "/ui/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#run-list li[data-run='live']"))
    browser.find_element(By.CSS_SELECTOR, "#run-list li[data-run='live']").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg"))
    assert text(browser, "#run-status") == "waiting for approval"
    assert text(browser, "[data-fact='stage']") == "system_prompt"
    assert text(browser, "[data-fact='last finished level']") == "1"
    assert "review_best" in browser.find_element(By.ID, "graph").get_attribute("innerHTML")
    # a level's candidates with reward, aspects, scores and rationales
    browser.find_element(By.CSS_SELECTOR, "#levels details.level:last-child > summary").click()
    browser.find_element(
        By.CSS_SELECTOR, "#levels details.level:last-child details.candidate > summary"
    ).click()
    scores = text(browser, "#levels details.level:last-child table.scores")
    assert "fake rationale" in scores and "Helpfulness" in scores
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot = tmp_path / "inspector.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("DRPO_DOCS_SCREENSHOT"):
        shutil.copy(screenshot, target)

    # edit the pending prompt: level 2 expands the edited text
    box = browser.find_element(By.ID, "approval-text")
    box.clear()
    box.send_keys("Answer exactly; say when unsure.")
    browser.find_element(By.ID, "edit").click()
    wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 2")
    assert "Answer exactly; say when unsure." in text(browser, "#best-prompt")
    inserted = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff ins"))
    assert "Answer" in inserted and "unsure." in inserted
    browser.find_element(By.ID, "approve").click()
    wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 3")
    browser.find_element(By.ID, "approve").click()
    wait.until(lambda d: text(d, "#run-status") == "finished")
    result = json.loads(urllib.request.urlopen(ui + "/ui/api/runs/live").read())
    assert result["best_system_prompt"] and not result["pending"]

    # fork before stage 2 with another judge: a new run that finishes under that judge
    judge = browser.find_element(By.ID, "fork-judge")
    judge.clear()
    judge.send_keys("fake:latency_ms=1")
    row = "//table[@id='history']//tr[td[3][normalize-space()='optimize_system_prompt']]"
    wait.until(lambda d: d.find_elements(By.XPATH, row))
    browser.find_element(By.XPATH, row + "//button[contains(@class, 'fork')]").click()
    wait.until(lambda d: text(d, "#run-title") == "live-fork-1")
    wait.until(lambda d: text(d, "#run-status") == "waiting for approval")
    assert "judge fake:latency_ms=1" in text(browser, "[data-fact='models']")

    # replay the original run from before stage 2: the gate stops it at level 1 again
    browser.find_element(By.CSS_SELECTOR, "#run-list li[data-run='live']").click()
    wait.until(lambda d: text(d, "#run-title") == "live")
    wait.until(lambda d: d.find_elements(By.XPATH, row))
    browser.find_element(By.XPATH, row + "//button[contains(@class, 'replay')]").click()
    wait.until(lambda d: text(d, "#run-status") == "waiting for approval")
    assert text(browser, "#approval-level") == "stage 2, level 1"
