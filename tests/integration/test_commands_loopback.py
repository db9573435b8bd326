"""`drpo serve` and `drpo ui` started as commands: they answer, and they listen on the loopback
address only (read from the kernel's socket table, not from their own messages)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage

from drpo.serving.aligned import AlignedChatModel
from tests.conftest import ENV, listeners
from tests.packs import make_pack
from tests.support.processes import free_port, stop

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads the Linux socket table"
)


@contextmanager
def command(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        yield proc
    finally:
        stop(proc, 30, signal.SIGINT)


def _wait_listening(proc: subprocess.Popen[str], port: int) -> set[str]:
    deadline = time.monotonic() + 120
    while not (found := listeners(port)):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the command never listened"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return make_pack(tmp_path_factory.mktemp("pack"))


def test_drpo_serve_command_answers_on_loopback_only(pack: tuple[Path, Any]) -> None:
    port = free_port()
    with command("serve", str(pack[0]), "--base", "fake", "--port", str(port)) as proc:
        assert _wait_listening(proc, port) == {"127.0.0.1"}
        assert proc.stderr is not None
        printed = proc.stderr.readline()  # "serving PACK on URL (API key: KEY)": a fresh key
        found = re.search(rf"on http://127\.0\.0\.1:{port}/v1 \(API key: (\S+)\)$", printed)
        assert found, printed
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=found.group(1))
        question = "Explain photosynthesis briefly."
        reply = client.chat.completions.create(
            model="drpo-aligned", messages=[{"role": "user", "content": question}]
        )
        expected = AlignedChatModel.from_pack(pack[0], "fake").invoke([HumanMessage(question)])
        assert reply.choices[0].message.content == expected.text
    assert proc.returncode is not None and not listeners(port)


def test_drpo_ui_command_serves_the_run_dir_on_loopback_only(
    pack: tuple[Path, Any], tmp_path: Path
) -> None:
    port = free_port()
    run_dir = pack[0].parent  # make_pack's run 'p' lives there
    with command("ui", "--run-dir", str(run_dir), "--port", str(port)) as proc:
        assert _wait_listening(proc, port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/api/runs", timeout=60) as r:
            runs = json.loads(r.read())
        assert [row["run_id"] for row in runs] == ["p"] and runs[0]["status"] == "finished"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/", timeout=60) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    assert not listeners(port)


def test_listeners_sees_a_wildcard_bind() -> None:
    """The check above can fail: a socket bound to all addresses is reported as such."""
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert listeners(s.getsockname()[1]) == {"0.0.0.0"}
