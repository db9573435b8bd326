"""The inspector page in headless Debian Chromium (selenium, system chromedriver, no download):
`drpo ui` over a live approval-gated run: open it, read the levels (table and chart), edit/approve,
fork from a level row, replay from a level row."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest
from langgraph_sdk import get_client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from drpo.cli.main import main
from tests.conftest import ENV, small_config
from tests.fault_server import FaultServer
from tests.langgraph_dev import UI_HEADERS, UI_TOKEN, judged_by, langgraph_dev
from tests.support.processes import free_port, stop, wait_until_up

FAKE = ["--models", "fake", "--icl", "2", "--icl-D", "1", "-W", "2", "-M", "2", "-D", "3"]


@pytest.fixture()
def ui(tmp_path: Path) -> Iterator[str]:
    args = ["optimize", "--run-dir", str(tmp_path), "--run-id", "live", "--approve", *FAKE]
    assert main(args) == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(tmp_path), "--port", str(port),
         "--model", f"fake:log={tmp_path / 'fork-judge.jsonl'}"],  # a spec the page may use
        env={**ENV, "DRPO_UI_TOKEN": UI_TOKEN},
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/ui/api/runs", proc, 60, "drpo ui")
        yield base
    finally:
        stop(proc, 10)


def text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def level_rows(view: dict[str, Any], upto: int) -> list[dict[str, Any]]:
    """Both stages' level rows up to stage-2 level ``upto`` with their records, no checkpoint."""
    records = {(st, r["level"], r["track"]): r for st, rs in view["records"].items() for r in rs}
    return [
        {
            **{k: v for k, v in row.items() if k != "checkpoint_id"},
            "records": [
                r for key, r in sorted(records.items()) if key[:2] == (row["stage"], row["level"])
            ],
        }
        for row in view["level_table"]
        if row["stage"] == "icl" or row["level"] <= upto
    ]


def api(ui: str, run_id: str) -> dict[str, Any]:
    return dict(json.loads(urllib.request.urlopen(f"{ui}/ui/api/runs/{run_id}").read()))


def test_inspect_and_steer_a_run(ui: str, browser: WebDriver, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    with urllib.request.urlopen(ui + "/studio/") as res:  # the alias for --studio-url
        assert b"DRPO inspector" in res.read()
    browser.get(ui + f"/ui/?token={UI_TOKEN}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#run-list li[data-run='live']"))
    assert "token" not in browser.current_url  # kept for the tab, out of the address bar
    browser.find_element(By.CSS_SELECTOR, "#run-list li[data-run='live']").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg"))
    assert text(browser, "#run-status") == "waiting for approval"
    assert text(browser, "[data-fact='stage']") == "system_prompt"
    assert text(browser, "[data-fact='last finished level']") == "1"
    drawing = browser.find_element(By.ID, "graph").get_attribute("innerHTML")
    assert all(step in drawing for step in ("review_best", "sample_query", "retrieve_icl"))
    # the levels of both stages: a table row and a chart point each (best and beam rewards)
    rows = browser.find_elements(By.CSS_SELECTOR, "#level-table tbody tr")
    assert [(r.get_attribute("data-stage"), r.get_attribute("data-level")) for r in rows] == [
        ("icl", "0"), ("icl", "1"), ("system_prompt", "0"), ("system_prompt", "1"),
    ]  # fmt: skip
    view = api(ui, "live")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart svg circle.best")) == 4
    beams = sum(len(r["beam_rewards"]) for r in view["level_table"])
    assert (
        len(browser.find_elements(By.CSS_SELECTOR, "#chart svg circle.beam"))
        == beams
        == 2 + 2 + 1 + 2
    )
    level1 = text(browser, "#level-table tr[data-stage='system_prompt'][data-level='1']")
    assert "Helpfulness" in level1 and f"{view['level_table'][3]['best_reward']:.2f}" in level1
    # a level's candidates with reward, aspects, scores and rationales
    browser.find_element(By.CSS_SELECTOR, "#levels details.level:last-child > summary").click()
    browser.find_element(
        By.CSS_SELECTOR, "#levels details.level:last-child details.candidate > summary"
    ).click()
    scores = text(browser, "#levels details.level:last-child table.scores")
    assert "fake rationale" in scores and "Helpfulness" in scores

    # edit the pending prompt: level 2 expands the edited text (it stays in the beam)
    box = browser.find_element(By.ID, "approval-text")
    box.clear()
    box.send_keys("Answer exactly; say when unsure.")
    browser.find_element(By.ID, "edit").click()
    wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 2")
    pending = api(ui, "live")
    level2 = [
        c for r in pending["records"]["system_prompt"] if r["level"] == 2 for c in r["candidates"]
    ]
    children = [c for c in level2 if c["parent"].endswith("+edit")]
    assert children and all(
        c["text"].startswith("Answer exactly; say when unsure.") for c in children
    )
    assert text(browser, "#best-prompt") == pending["best_system_prompt"].strip()
    assert browser.find_elements(By.CSS_SELECTOR, "#diff ins")  # the best prompt's last change
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart svg circle.best")) == 5)
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot = tmp_path / "inspector.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("DRPO_DOCS_SCREENSHOT"):
        shutil.copy(screenshot, target)
    browser.find_element(By.ID, "approve").click()
    wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 3")
    browser.find_element(By.ID, "approve").click()
    wait.until(lambda d: text(d, "#run-status") == "finished")
    parent = api(ui, "live")
    assert parent["best_system_prompt"] and not parent["pending"]
    # the inspector writes result.json as `drpo optimize` does (off its event loop)
    result = tmp_path / "live" / "result.json"
    wait.until(lambda _d: json.loads(result.read_text()).get("status") == "finished")
    assert json.loads(result.read_text())["best_system_prompt"] == parent["best_system_prompt"]

    # fork from stage-2 level 1 with another judge (it logs its calls): a new run whose levels
    # 0..1 are the parent's, and whose judge is called only for the levels after 1
    judge_log = tmp_path / "fork-judge.jsonl"
    judge = browser.find_element(By.ID, "fork-judge")
    judge.clear()
    judge.send_keys(f"fake:log={judge_log}")
    row = "#level-table tr[data-stage='system_prompt'][data-level='1']"
    browser.find_element(By.CSS_SELECTOR, row + " button.fork").click()
    wait.until(lambda d: text(d, "#run-title") == "live-fork-1")
    wait.until(lambda d: text(d, "#run-status") == "waiting for approval")
    assert f"judge fake:log={judge_log}" in text(browser, "[data-fact='models']")
    assert text(browser, "[data-fact='forked from']") == "live after system_prompt level 1"
    fork = api(ui, "live-fork-1")
    assert fork["pending"][0]["level"] == 2
    assert level_rows(fork, 1) == level_rows(parent, 1)
    judged = [json.loads(line) for line in judge_log.read_text().splitlines()]
    level2 = [r for r in fork["records"]["system_prompt"] if r["level"] == 2]
    assert judged and len(judged) == sum(
        len(c["evaluations"]) for r in level2 for c in r["candidates"]
    )

    # a fork the page cannot start: one clear error, nothing written
    bad = (
        ({"stage": "system_prompt", "level": 9}, 409, "levels that can be forked: 0, 1, 2, 3"),
        ({"stage": "bogus", "level": 1}, 409, "unknown stage 'bogus'"),
        ({"stage": "icl", "level": 0, "W": 0}, 400, "greater than or equal to 1"),
        ({"stage": "icl", "level": 0, "judge_node": "nope"}, 400, "'nope' is not one this server"),
    )
    for body, status, words in bad:
        request = urllib.request.Request(
            f"{ui}/ui/api/runs/live/fork",
            json.dumps({"judge_model": "fake", **body}).encode(),
            UI_HEADERS,
        )
        with pytest.raises(HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == status and words in json.loads(err.value.read())["error"]
    assert sorted(p.name for p in tmp_path.glob("live*")) == ["live", "live-fork-1"]

    # replay the original run from its level 1: the gate stops it after level 2 again, and the
    # page shows this branch's levels only (level 3 of the earlier branch is gone)
    browser.find_element(By.CSS_SELECTOR, "#run-list li[data-run='live']").click()
    wait.until(lambda d: text(d, "#run-title") == "live")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row + " button.replay"))
    browser.find_element(By.CSS_SELECTOR, row + " button.replay").click()
    wait.until(lambda d: text(d, "#run-status") == "waiting for approval")
    assert text(browser, "#approval-level") == "stage 2, level 2"
    replayed = api(ui, "live")
    assert [r["level"] for r in replayed["levels"]] == [0, 1, 2]
    assert level_rows(replayed, 1) == level_rows(parent, 1)


async def _gated_thread(url: str, spec: str) -> str:
    """A thread on langgraph dev whose run stops at the approval gate after stage-2 level 1."""
    client = get_client(url=url)
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"],
        "drpo",
        input={"config": small_config(D=2)},
        context={**judged_by(spec, spec), "approve": True},
    )
    await client.runs.join(thread["thread_id"], run["run_id"])
    return str(thread["thread_id"])


def test_inspector_fork_on_langgraph_dev(browser: WebDriver, tmp_path: Path) -> None:
    """The same page inside `langgraph dev` (ServerRuns): approve, then fork in the thread from
    a level row with a judge that scores the other way round."""
    wait = WebDriverWait(browser, 90, poll_frequency=0.2)
    models = FaultServer(deadline_s=400).start()
    spec = f"openai-compatible:fake@{models.url}"
    try:
        with langgraph_dev(tmp_path / "langgraph.log") as url:
            tid = asyncio.run(_gated_thread(url, spec))
            browser.get(f"{url}/ui/?run={tid}&token={UI_TOKEN}")
            wait.until(lambda d: text(d, "#run-title") == tid)
            wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 1")
            browser.find_element(By.ID, "approve").click()
            wait.until(lambda d: text(d, "#approval-level") == "stage 2, level 2")
            wait.until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart svg circle.best")) == 6
            )
            parent = api(url, tid)
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(str(tmp_path / "inspector-langgraph-dev.png"))
            if target := os.environ.get("DRPO_DOCS_SCREENSHOT_DEV"):
                shutil.copy(tmp_path / "inspector-langgraph-dev.png", target)

            judge = browser.find_element(By.ID, "fork-judge")
            judge.clear()
            judge.send_keys(f"openai-compatible:inverse@{models.url}")
            row = "#level-table tr[data-stage='system_prompt'][data-level='1']"
            browser.find_element(By.CSS_SELECTOR, row + " button.fork").click()
            wait.until(lambda d: "after system_prompt level 1" in text(d, "#facts"))
            wait.until(lambda d: api(url, tid)["status"] == "waiting for approval")
            forked = api(url, tid)
    finally:
        models.shutdown()
    assert forked["forked_from"]["checkpoint_id"] == parent["level_table"][4]["checkpoint_id"]
    assert forked["pending"][0]["level"] == 2
    assert level_rows(forked, 1) == level_rows(parent, 1)
    # level 2 again, judged by the inverse judge: the same candidates, each scored 6 - score
    new, old = forked["records"]["system_prompt"][2], parent["records"]["system_prompt"][2]
    new_rewards = {c["text"]: c["reward"] for c in new["candidates"]}
    old_rewards = {c["text"]: c["reward"] for c in old["candidates"]}
    assert new_rewards.keys() == old_rewards.keys()
    assert all(abs(new_rewards[t] - (6 - old_rewards[t])) < 1e-9 for t in new_rewards)
    assert new_rewards != old_rewards
