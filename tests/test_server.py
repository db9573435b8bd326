"""The graph on the LangGraph server (`langgraph dev`, offline) driven by langgraph-sdk: a run with
the fake model behind an OpenAI-compatible endpoint, streamed updates, the state history, and a
fork from a mid-run checkpoint with another judge that continues differently."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.conftest import small_config
from tests.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_on(port: int) -> set[str]:
    """Local addresses (hex, /proc/net/tcp) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@contextmanager
def _serve(log: Path, config: str = "langgraph.json", **extra_env: str) -> Iterator[str]:
    """`langgraph dev` offline on a free port; yields its URL (read back from /info)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    port = _free_port()
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
            cwd=ROOT,
            env={**env, **OFFLINE, **extra_env},
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
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(tmp_path_factory.mktemp("server") / "langgraph.log") as url:
        yield url


def _context(judge: str, other: str) -> dict[str, Any]:
    return {
        "base_model": other,
        "optimizer_model": other,
        "selector_model": other,
        "judge_model": judge,
        "judge_node": "dynamic",
    }


async def _scenario(url: str, models: FaultServer) -> dict[str, Any]:
    client = get_client(url=url)
    spec = f"openai-compatible:fake@{models.url}"
    thread = await client.threads.create()
    tid = thread["thread_id"]
    updates: list[Any] = []
    async for part in client.runs.stream(
        tid,
        "drpo",
        input={"config": small_config(D=2)},
        context=_context(spec, spec),
        stream_mode="updates",
        stream_subgraphs=True,
    ):
        assert part.event != "error", part.data
        if part.event.startswith("updates"):
            updates.append(part.data)
    final = (await client.threads.get_state(tid))["values"]
    history = await client.threads.get_history(tid, limit=200)
    # fork just before stage 2, with a judge that scores the other way round
    mid = next(h for h in history if h["next"] == ["optimize_system_prompt"])
    forked: dict[str, Any] = {}
    async for part in client.runs.stream(
        tid,
        "drpo",
        input=None,
        checkpoint_id=mid["checkpoint"]["checkpoint_id"],
        context=_context(f"openai-compatible:inverse@{models.url}", spec),
        stream_mode="values",
    ):
        assert part.event != "error", part.data
        if part.event == "values":
            forked = part.data
    return {
        "updates": updates,
        "final": final,
        "history": history,
        "mid": mid,
        "fork": forked,
        "thread_id": tid,
    }


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), response.read().decode()


def test_run_stream_history_and_fork_on_langgraph_dev(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    assert _listening_on(port) == {"0100007F"}  # 127.0.0.1 only
    models = FaultServer(deadline_s=400).start()
    try:
        got = asyncio.run(_scenario(server, models))
    finally:
        models.shutdown()
    nodes = {node for update in got["updates"] for node in update}
    assert {"load_data", "optimize_icl", "prune_beam", "judge", "generate"} <= nodes
    final, fork = got["final"], got["fork"]
    assert final["best_system_prompt"] and fork["best_system_prompt"]
    assert len(got["history"]) > 3 and got["mid"]["values"]["icl_examples"]
    # the fork shares the run up to the checkpoint (stage 1) and continues differently
    assert fork["icl_examples"] == final["icl_examples"] == got["mid"]["values"]["icl_examples"]
    assert fork["best_system_prompt"] != final["best_system_prompt"]
    assert fork["levels"] != final["levels"]
    assert models.stats["ok"] > 0
    # the inspector is served by the same server (langgraph.json http.app) and reads its threads
    for page in ("/ui/", "/studio/"):
        status, html = _get(server + page)
        assert status == 200 and "<html" in html.lower()
    _, listed = _get(server + "/ui/api/runs")
    assert got["thread_id"] in listed
    _, shown = _get(f"{server}/ui/api/runs/{got['thread_id']}")
    view = json.loads(shown)
    assert view["status"] == "finished"
    # the fork continued the same thread: its state is the thread's latest
    assert view["best_system_prompt"] == fork["best_system_prompt"]
    assert len(view["records"]["system_prompt"]) == len(fork["levels"])
    # the Stop button's endpoint on the server: nothing runs any more, nothing is cancelled
    stop = urllib.request.Request(f"{server}/ui/api/runs/{got['thread_id']}/stop", b"{}")
    with urllib.request.urlopen(stop, timeout=30) as response:
        assert json.loads(response.read())["message"] == "stop requested (0 run(s) cancelled)"


async def _short_run(url: str, spec: str) -> str:
    client = get_client(url=url)
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"],
        "drpo",
        input={"config": small_config(D=1)},
        context=_context(spec, spec),
    )
    return str(thread["thread_id"])


def test_server_persistence_on_our_sqlite_checkpointer(tmp_path: Path) -> None:
    """langgraph.persistent.json points the server's checkpointer.path at a SQLite file."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    db = tmp_path / "server.sqlite"
    models = FaultServer(deadline_s=300).start()
    try:
        with _serve(
            tmp_path / "langgraph.log",
            "langgraph.persistent.json",
            DRPO_SERVER_CHECKPOINTER=str(db),
        ) as url:
            tid = asyncio.run(_short_run(url, f"openai-compatible:fake@{models.url}"))
    finally:
        models.shutdown()

    async def read() -> dict[str, Any]:
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            found = await saver.aget_tuple({"configurable": {"thread_id": tid}})
            assert found is not None, "the server wrote no checkpoint to our SQLite file"
            return dict(found.checkpoint["channel_values"])

    values = asyncio.run(read())
    assert values.get("best_system_prompt")
