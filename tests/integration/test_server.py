"""The graph on the LangGraph server (`langgraph dev`, offline) driven by langgraph-sdk: a run with
the fake model behind an OpenAI-compatible endpoint, streamed updates, the state history, a fork
at a level checkpoint (``threads.update_state`` there, then a run with another judge) that keeps
levels 0..K and re-judges the later ones, and the inspector's fork through the same server."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.conftest import listeners, small_config
from tests.fault_server import FaultServer
from tests.http_probe import request
from tests.langgraph_dev import UI_HEADERS, judged_by, langgraph_dev


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with langgraph_dev(tmp_path_factory.mktemp("server") / "langgraph.log") as url:
        yield url


K = 1  # the stage-2 level the forks start after


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), UI_HEADERS)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _levels(view: dict[str, Any], upto: int | None = None) -> list[dict[str, Any]]:
    """The rows of both stages' levels (records of each level included), without checkpoints."""
    by_level: dict[tuple[str, int], list[Any]] = {}
    for stage, records in view["records"].items():
        for r in records:
            by_level.setdefault((stage, r["level"]), []).append(r)
    rows = [
        {**{k: v for k, v in row.items() if k != "checkpoint_id"},
         "records": by_level[(row["stage"], row["level"])]}
        for row in view["level_table"]
    ]  # fmt: skip
    if upto is None:
        return rows
    return [r for r in rows if r["stage"] == "icl" or r["level"] <= upto]


async def _scenario(url: str, models: FaultServer) -> dict[str, Any]:
    client = get_client(url=url)
    spec = f"openai-compatible:fake@{models.url}"
    thread = await client.threads.create()
    tid = thread["thread_id"]
    updates: list[Any] = []
    async for part in client.runs.stream(
        tid,
        "drpo",
        input={"config": small_config(D=3, select="last-beam")},
        context=judged_by(spec, spec),
        stream_mode="updates",
    ):
        assert part.event != "error", part.data
        if part.event.startswith("updates"):
            updates.append(part.data)
    parent = await asyncio.to_thread(_get_json, f"{url}/ui/api/runs/{tid}")
    history = await client.threads.get_history(tid, limit=500)
    # LangGraph's own fork at a level checkpoint: update_state there as if prune_beam wrote it,
    # then a run from the new checkpoint with a judge that scores the other way round
    level_cp = next(
        r["checkpoint_id"]
        for r in parent["level_table"]
        if (r["stage"], r["level"]) == ("system_prompt", K)
    )
    at_level = await client.threads.get_state(tid, checkpoint_id=level_cp)
    parent_calls = list(models.log)
    await client.threads.update_state(
        tid, {"config": at_level["values"]["config"]}, checkpoint_id=level_cp, as_node="prune_beam"
    )
    async for part in client.runs.stream(
        tid,
        "drpo",
        input=None,
        context=judged_by(f"openai-compatible:inverse@{models.url}", spec),
        stream_mode="values",
    ):
        assert part.event != "error", part.data
    fork_calls = models.log[len(parent_calls) :]
    forked = await asyncio.to_thread(_get_json, f"{url}/ui/api/runs/{tid}")
    # the inspector's "fork from here" (ServerRuns.fork): level 0, the first judge, D=2
    mark = len(models.log)
    started = await asyncio.to_thread(
        _post_json,
        f"{url}/ui/api/runs/{tid}/fork",
        {"stage": "system_prompt", "level": 0, "judge_model": spec, "D": 2},
    )
    await client.runs.join(tid, started["server_run_id"])
    again = await asyncio.to_thread(_get_json, f"{url}/ui/api/runs/{tid}")
    return {
        "updates": updates,
        "history": history,
        "at_level": at_level,
        "parent": parent,
        "forked": forked,
        "fork_calls": fork_calls,
        "parent_calls": parent_calls,
        "started": started,
        "again": again,
        "again_calls": models.log[mark:],
        "thread_id": tid,
        "graph": await client.assistants.get_graph("drpo"),
    }


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), response.read().decode()


def _mentions(calls: list[dict[str, str]], queries: list[str], kinds: set[str]) -> int:
    return sum(1 for c in calls if c["kind"] in kinds and any(q in c["text"] for q in queries))


def test_run_history_and_level_fork_on_langgraph_dev(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    assert listeners(port) == {"127.0.0.1"}  # loopback only
    models = FaultServer(deadline_s=500, record=True).start()
    try:
        got = asyncio.run(_scenario(server, models))
    finally:
        models.shutdown()
    nodes = {node for update in got["updates"] for node in update}
    assert {"load_data", "select_aspects", "transition", "generate", "judge"} <= nodes
    assert {"sample_query", "retrieve_icl", "prune_beam", "finish_stage"} <= nodes
    drawn = {node["id"] for node in got["graph"]["nodes"]}  # the served graph, as Studio draws it
    assert {"sample_query", "retrieve_icl", "select_aspects", "generate", "judge", "transition",
            "prune_beam"} <= drawn  # fmt: skip  # the design card's seven steps
    parent, forked, again = got["parent"], got["forked"], got["again"]
    assert parent["status"] == forked["status"] == again["status"] == "finished"
    # every level of both stages is a root checkpoint the inspector maps (D=3: levels 0..3)
    assert [(r["stage"], r["level"]) for r in parent["level_table"]] == [
        ("icl", 0), ("icl", 1), ("icl", 2),
        ("system_prompt", 0), ("system_prompt", 1), ("system_prompt", 2), ("system_prompt", 3),
    ]  # fmt: skip
    assert all(r["checkpoint_id"] and r["beam_rewards"] for r in parent["level_table"])
    assert got["at_level"]["values"]["closed"] == {"stage": "system_prompt", "level": K}
    assert got["at_level"]["next"] == ["sample_query"]
    assert len(got["history"]) > 20

    # the SDK fork at level K: levels 0..K are the parent's, later levels re-judged differently
    assert _levels(forked, K) == _levels(parent, K)
    later = [r for r in _levels(forked) if r["stage"] == "system_prompt" and r["level"] > K]
    old = [r for r in _levels(parent) if r["stage"] == "system_prompt" and r["level"] > K]
    assert len(later) == len(old) == 3 - K
    assert all(new != before for new, before in zip(later, old, strict=True))
    assert forked["best_system_prompt"] != parent["best_system_prompt"]
    # same thread: the checkpoints of the levels before K are shared with the parent's branch
    assert [r["checkpoint_id"] for r in forked["level_table"][: 3 + K]] == [
        r["checkpoint_id"] for r in parent["level_table"][: 3 + K]
    ]
    # no model call for levels <= K: none of their queries is answered or judged again, no
    # aspect selection and no stage-1 transition; every judge call went to the inverse judge
    done = [q for r in parent["levels"] if r["level"] <= K for q in r["queries"]]
    scored = {"generate", "JudgeReply"}
    assert done and _mentions(got["parent_calls"], done, scored) >= 2 * len(done)
    assert _mentions(got["fork_calls"], done, scored) == 0
    kinds = {c["kind"] for c in got["fork_calls"]}
    assert kinds == {"generate", "JudgeReply", "PromptTransitionReply"}
    judged = [c["model"] for c in got["fork_calls"] if c["kind"] == "JudgeReply"]
    assert judged and all(m.startswith("inverse") for m in judged)

    # the inspector's fork (ServerRuns.fork) from level 0 with the first judge and D=2: the same
    # search as the parent's up to level 2, level 3 gone from the branch
    assert again["forked_from"] == {
        "run_id": got["thread_id"], "stage": "system_prompt", "level": 0,
        "checkpoint_id": parent["level_table"][3]["checkpoint_id"],
    }  # fmt: skip
    assert _levels(again) == _levels(parent, 2)
    first0 = parent["levels"][0]["queries"]
    assert _mentions(got["again_calls"], first0, scored) == 0
    assert got["started"]["run_id"] == got["thread_id"]

    # the inspector is served by the same server (langgraph.json http.app) and reads its threads
    for page in ("/ui/", "/studio/"):
        status, html = _get(server + page)
        assert status == 200 and "<html" in html.lower()
    _, listed = _get(server + "/ui/api/runs")
    assert got["thread_id"] in listed
    # the Stop button's endpoint on the server: nothing runs any more, nothing is cancelled
    stop_url = f"{server}/ui/api/runs/{got['thread_id']}/stop"
    stop = urllib.request.Request(stop_url, b"{}", UI_HEADERS)
    with urllib.request.urlopen(stop, timeout=30) as response:
        assert json.loads(response.read())["message"] == "stop requested (0 run(s) cancelled)"
    # ... and like `drpo ui`'s, it refuses other pages, a rebinding Host and a missing token
    tid = got["thread_id"]
    for headers, status in (
        ({"content-type": "application/json"}, 401),
        ({**UI_HEADERS, "origin": "http://evil.example"}, 403),
        ({**UI_HEADERS, "host": "evil.example"}, 403),
        ({**UI_HEADERS, "content-type": "text/plain"}, 415),
    ):
        code, body = request(server, "POST", f"/ui/api/runs/{tid}/stop", "{}", headers)
        assert code == status, body
    fork = {"stage": "system_prompt", "level": 0, "judge_model": "fake:log=/tmp/planted"}
    code, body = request(server, "POST", f"/ui/api/runs/{tid}/fork", fork, UI_HEADERS)
    assert code == 400 and "may not name a file" in body["error"]
    # the LangGraph API of the same server: a page cannot start a run (its context would name
    # the judge, i.e. code) by a cross-site POST, even a text/plain one, nor by DNS rebinding
    run = json.dumps({"assistant_id": "drpo", "context": {"judge_node": "builtins:print"}})
    runs_url = f"{server}/threads/{tid}/runs"
    for headers in (
        {"origin": "http://evil.example", "content-type": "text/plain"},
        {"origin": "http://evil.example", "content-type": "application/json"},
        {"host": "evil.example:2024", "content-type": "application/json"},
    ):
        code, body = request(server, "POST", f"/threads/{tid}/runs", run, headers)
        assert code == 403, body
        preflight = {**headers, "access-control-request-method": "POST"}
        assert request(server, "OPTIONS", "/threads", None, preflight)[0] == 403
    contexts = [(r.get("kwargs") or {}).get("context") or {} for r in _get_json(runs_url)]
    assert contexts and all(c.get("judge_node") != "builtins:print" for c in contexts)


async def _short_run(url: str, spec: str) -> str:
    client = get_client(url=url)
    thread = await client.threads.create()
    await client.runs.wait(
        thread["thread_id"],
        "drpo",
        input={"config": small_config(D=1)},
        context=judged_by(spec, spec),
    )
    return str(thread["thread_id"])


def test_server_persistence_on_our_sqlite_checkpointer(tmp_path: Path) -> None:
    """langgraph.persistent.json points the server's checkpointer.path at a SQLite file."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    db = tmp_path / "server.sqlite"
    models = FaultServer(deadline_s=300).start()
    try:
        with langgraph_dev(
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
