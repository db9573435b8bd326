"""Graceful stop of a real `drpo optimize` process: SIGTERM, SIGINT, or the STOP file written by
the inspector's stop endpoint. No new call starts, the calls in flight finish (or are cancelled
after DRPO_STOP_WAIT_S), exit 4 with the best prompt so far and the resume command; the resumed
run ends as an uninterrupted one, making every call once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from drpo.cli.budget import EXIT_STOPPED
from drpo.cli.main import main
from tests.conftest import read_log, show
from tests.langgraph_dev import UI_TOKEN
from tests.support.processes import free_port, paused, stop, wait_until_up
from tests.support.runs import comparable

ARGS = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "3", "--seeds", "6", "-K", "0",
        "--select", "last-beam"]  # fmt: skip
SAME = ("best_system_prompt", "best_reward", "icl_examples", "levels", "icl_levels", "calls")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[2])}


def _start(runs: Path, log: Path, latency_ms: int, **env: str) -> subprocess.Popen[str]:
    spec = f"fake:latency_ms={latency_ms},log={log}"
    args = ["optimize", "--run-dir", str(runs), "--run-id", "s", "--models", spec, *ARGS]
    return subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, **env},
    )


def _wait_for_calls(log: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while len(read_log(log)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def _reference(tmp_path: Path) -> dict[str, object]:
    log = tmp_path / "ref.jsonl"
    spec = f"fake:log={log}"
    args = ["optimize", "--run-dir", str(tmp_path / "ref"), "--run-id", "ref", "--models", spec]
    assert main([*args, *ARGS]) == 0
    assert len(read_log(log)) == 48
    return show(tmp_path / "ref", "ref")


def _check_stopped(proc: subprocess.Popen[str], how: str) -> str:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STOPPED, err
    assert f"stopping ({how}): no new model call starts" in err
    assert f"drpo: stopped ({how}" in err and "best system prompt so far" in err
    assert "continue it with: drpo resume s --run-dir" in err and "Traceback" not in err
    return err


def _resume_equals(tmp_path: Path, runs: Path, log: Path, reference: dict[str, object]) -> None:
    made = len(read_log(log))
    assert 0 < made < 48
    assert show(runs, "s")["status"] == "in progress"
    assert not (runs / "s" / "STOP").exists()  # consumed: the resume does not stop again
    assert main(["resume", "s", "--run-dir", str(runs)]) == 0
    done = show(runs, "s")
    for key in SAME:
        assert comparable(done)[key] == comparable(reference)[key], key
    keys = [(r["kind"], r["key"]) for r in read_log(log)]
    assert len(keys) == len(set(keys)) == 48  # the calls in flight finished and were kept


def test_sigterm_stops_gracefully_and_resume_finishes(tmp_path: Path) -> None:
    reference = _reference(tmp_path)
    runs, log = tmp_path / "t", tmp_path / "t.jsonl"
    proc = _start(runs, log, latency_ms=300)
    _wait_for_calls(log, 24, proc)  # in stage 2
    proc.send_signal(signal.SIGTERM)
    err = _check_stopped(proc, "SIGTERM")
    assert "You are a helpful assistant." in err.split("best system prompt so far")[1]
    _resume_equals(tmp_path, runs, log, reference)


def test_the_inspector_stop_button_stops_the_run(
    tmp_path: Path,
    browser: WebDriver,
) -> None:
    reference = _reference(tmp_path)
    runs, log = tmp_path / "u", tmp_path / "u.jsonl"
    proc = _start(runs, log, latency_ms=300)
    _wait_for_calls(log, 5, proc)
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(runs), "--port", str(port)],
        env={**ENV, "DRPO_UI_TOKEN": UI_TOKEN},  # the page's state-changing calls need it
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/ui/"
        with paused(proc):  # the run stays in progress while the inspector and page start
            wait_until_up(base + "api/runs", ui, 60, "drpo ui")
            wait = WebDriverWait(browser, 60, poll_frequency=0.2)
            browser.get(base + f"?run=s&token={UI_TOKEN}")
            wait.until(lambda d: d.find_element(By.ID, "stop").is_displayed())
            browser.find_element(By.ID, "stop").click()  # POST api/runs/s/stop: the STOP file
            wait.until(lambda d: "stop requested" in d.find_element(By.ID, "action-result").text)
        _check_stopped(proc, "STOP file")
    finally:
        stop(ui, 10)
    _resume_equals(tmp_path, runs, log, reference)


def test_calls_in_flight_past_the_wait_are_cancelled_and_rerun(tmp_path: Path) -> None:
    reference = _reference(tmp_path)
    runs, log = tmp_path / "w", tmp_path / "w.jsonl"
    proc = _start(runs, log, latency_ms=1500, DRPO_STOP_WAIT_S="0.2")
    _wait_for_calls(log, 3, proc)
    (runs / "s" / "STOP").write_text("")
    err = _check_stopped(proc, "STOP file")
    assert "calls in flight after 0.2 s were cancelled and run again on resume" in err
    made = len(read_log(log))
    assert main(["resume", "s", "--run-dir", str(runs)]) == 0
    done = show(runs, "s")
    for key in SAME:
        assert comparable(done)[key] == comparable(reference)[key], key
    assert len(read_log(log)) >= 48 > made  # the cancelled calls were made again


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    runs, log = tmp_path / "c", tmp_path / "c.jsonl"
    proc = _start(runs, log, latency_ms=3000)
    _wait_for_calls(log, 2, proc)  # the selections; now the judges are in flight for 3 s
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopping (SIGINT)" in err and "interrupted; the run is saved" in err
    assert main(["resume", "s", "--run-dir", str(runs), "--models", "fake"]) == 0
