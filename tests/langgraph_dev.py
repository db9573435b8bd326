"""The graph on the LangGraph server: `langgraph dev` started offline on a free port, and the
run context that sends every role to one model spec but the judge."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
UI_TOKEN = "inspector-test-token"  # DRPO_UI_TOKEN of every test server: /ui/?token=...
UI_HEADERS = {"x-drpo-token": UI_TOKEN, "content-type": "application/json"}


@contextmanager
def langgraph_dev(log: Path, config: str = "langgraph.json", **extra_env: str) -> Iterator[str]:
    """`langgraph dev` offline on a free port; yields its URL (read back from /info). It runs in
    a folder of its own beside ``log`` (a copy of ``config`` whose paths point into the checkout):
    `langgraph dev` keeps its threads in ``.langgraph_api/`` of its working folder, and in the
    checkout they would pile up across sessions and be shared by the tests of two workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    port = free_port()
    work = log.parent / f"langgraph-dev-{port}"
    work.mkdir()
    config = str(_own_config(ROOT / config, work / "langgraph.json"))
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "langgraph_cli",
                "dev",
                "--no-browser",
                "--no-reload",
                "--config",
                config,
                "--port",
                str(port),
            ],  # fmt: skip
            cwd=work,
            env={**env, **OFFLINE, "DRPO_UI_TOKEN": UI_TOKEN, **extra_env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = None
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            # it may bind another port than asked when that one is taken: read it back
            seen = re.findall(r"http://127\.0\.0\.1:(\d+)", log.read_text())
            for candidate in {str(port), *seen}:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{candidate}/info", timeout=2):
                        url = f"http://127.0.0.1:{candidate}"
                except OSError:
                    continue
            time.sleep(0.5)
        assert url, f"langgraph dev did not come up:\n{log.read_text()[-3000:]}"
        yield url
    finally:
        stop(proc, 20)


def _own_config(source: Path, target: Path) -> Path:
    """``source`` with each path made absolute (into the checkout)."""
    data = json.loads(source.read_text())

    def absolute(path: str) -> str:
        return str((ROOT / path).resolve()) if path.startswith(".") else path

    data["dependencies"] = [absolute(d) for d in data.get("dependencies", [])]
    data["graphs"] = {name: absolute(ref) for name, ref in data["graphs"].items()}
    for section in ("http", "checkpointer"):
        for key in ("app", "path"):
            if key in data.get(section, {}):
                data[section][key] = absolute(data[section][key])
    target.write_text(json.dumps(data))
    return target


def judged_by(judge: str, other: str) -> dict[str, Any]:
    """The run context: ``judge`` judges, ``other`` plays every other role."""
    return {
        "base_model": other,
        "optimizer_model": other,
        "selector_model": other,
        "judge_model": judge,
        "judge_node": "dynamic",
    }
