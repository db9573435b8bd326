"""`drpo reproduce --server URL` against `langgraph dev`: the table's runs as background runs on
the server (one thread per planned run, ids derived from the run ids), the greedy and Monte
Carlo runs on the beam run's ICL set, the table written from the threads' final states; run
again, every thread is found finished and no new run is made."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from drpo.reproduce.server import thread_id
from tests.langgraph_dev import langgraph_dev
from tests.support.kills import drpo, launch, wait_for

# a seed of this test session in the run ids (and so the thread ids): a server run by hand on the
# same folder would keep older ones
SEED = str(uuid.uuid4().int % 1_000_000_000)
SMALL = ["--icl", "2", "--icl-D", "2", "-W", "2", "-M", "2", "-D", "2", "--seeds", "8", "-K", "1",
         "--select", "last-beam", "--limit", "4"]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with langgraph_dev(tmp_path_factory.mktemp("server") / "langgraph.log") as url:
        yield url


async def _threads(url: str, ids: list[str]) -> dict[str, Any]:
    client = get_client(url=url)
    out = {}
    for run_id in ids:
        tid = thread_id(run_id)
        thread = await client.threads.get(tid)
        state = await client.threads.get_state(tid)
        runs = await client.runs.list(tid, limit=100)
        out[run_id] = {"metadata": thread["metadata"], "values": state["values"],
                       "next": state["next"], "runs": [r["status"] for r in runs]}  # fmt: skip
    return out


def test_table4_on_langgraph_dev_then_found_finished(server: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["reproduce", "table4", "--server", server, "--models", "fake", "--eval-judge", "fake",
            "--allow-self-judge", "--run-dir", str(runs), *SMALL, "--seed", SEED]  # fmt: skip
    first = drpo(*args, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "Δ Avg." in first.stdout
    result = json.loads((runs / "reproduce" / "table4" / "result.json").read_text())
    ids = result["runs"]
    assert result["server"] == server and len(ids) == 3
    threads = asyncio.run(_threads(server, ids))
    beam, greedy, mc = (next(i for i in ids if f"-{row}-" in i) for row in ("beam", "greedy", "mc"))
    for run_id, t in threads.items():
        assert t["metadata"]["drpo_reproduce"] == run_id and t["runs"] == ["success"]
        assert t["next"] == [] and t["values"]["best_system_prompt"]
    assert threads[greedy]["values"]["config"]["search"] == "greedy"
    assert threads[mc]["values"]["config"]["search"] == "mc"
    for other in (greedy, mc):  # stage 1 skipped: the beam run's optimized ICL set
        assert threads[other]["values"]["icl_examples"] == threads[beam]["values"]["icl_examples"]
        assert not threads[other]["values"].get("icl_report")
    assert threads[beam]["values"]["icl_report"]  # the beam run optimized it
    packs = runs / "reproduce" / "table4" / "packs"
    assert {p.stem for p in packs.glob("*.json")} == set(ids)
    pack = json.loads((packs / f"{greedy}.json").read_text())
    assert pack["server"]["thread_id"] == thread_id(greedy)
    assert pack["system_prompt"] == threads[greedy]["values"]["best_system_prompt"]
    assert not any((runs / i).exists() for i in ids)  # the runs live on the server
    # the same command again: every thread is found finished, no run is created
    again = drpo(*args, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("finished before") == 3
    assert [t["runs"] for t in asyncio.run(_threads(server, ids)).values()] == [["success"]] * 3


def test_killed_while_its_runs_are_on_the_server_it_waits_for_them(
    server: str, tmp_path: Path
) -> None:
    # the command is killed after it submitted the beam run; the run goes on on the server (held
    # there by the fake model's hold file until the command runs again), and the command run
    # again finds its thread (same id) and waits for that run: one run per thread
    runs, hold = tmp_path / "runs", tmp_path / "hold"
    hold.write_text("")
    args = ["reproduce", "table4", "--server", server, "--models", f"fake:hold={hold}",
            "--eval-judge", "fake", "--allow-self-judge", "--run-dir", str(runs), *SMALL,
            "--seed", str(int(SEED) + 1)]  # fmt: skip
    err, err_again = tmp_path / "first.err", tmp_path / "again.err"
    first = launch(*args, stderr=err)
    wait_for(lambda: "submitted as run" in err.read_text() or first.poll() is not None, 300,
             "the beam run submitted")  # fmt: skip
    first.send_signal(signal.SIGKILL)
    first.wait()
    again = launch(*args, stderr=err_again)
    wait_for(lambda: "waiting for run" in err_again.read_text() or again.poll() is not None, 300,
             "the command waiting for the beam run")  # fmt: skip
    hold.unlink()
    assert again.wait(timeout=600) == 0, err_again.read_text()
    text = err_again.read_text()
    assert "waiting for run" in text and "submitted" not in text.split("waiting for run")[0]
    ids = json.loads((runs / "reproduce" / "table4" / "result.json").read_text())["runs"]
    assert [t["runs"] for t in asyncio.run(_threads(server, ids)).values()] == [["success"]] * 3
