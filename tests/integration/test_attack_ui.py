"""`drpo ui` probed as a hostile web page would: every state-changing request needs the token, a
foreign Origin or Host is refused, JSON only as application/json, bodies are capped, and a fork
request can name neither code, nor a file, nor a new server URL. Each refusal leaves the run dir
as it was; the same requests with the token from the printed URL work."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drpo.cli.main import main
from tests.conftest import ENV, TINY
from tests.http_probe import request, tree_digest, wait_for_answer
from tests.support.processes import free_port, stop, wait_until_up
from tests.support.runs import optimize

RUN = "r"
GOOD_FORK = {"stage": "system_prompt", "level": 0, "judge_model": "fake:latency_ms=1"}


class UI:
    def __init__(self, base: str, token: str, run_dir: Path, proc: subprocess.Popen[str]):
        self.base, self.token, self.run_dir, self.proc = base, token, run_dir, proc
        self.host = base.removeprefix("http://")

    def post(self, path: str, body: Any, **headers: str) -> tuple[int, Any]:
        return request(self.base, "POST", f"/ui/api/runs/{RUN}/{path}", body, headers)

    def authed(self, path: str, body: Any, **headers: str) -> tuple[int, Any]:
        return self.post(path, body, **{"x-drpo-token": self.token, **headers})


def _optimize(run_dir: Path) -> None:
    assert optimize(run_dir, RUN, "fake", *TINY) == 0


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    run_dir = tmp_path_factory.mktemp("runs")
    _optimize(run_dir)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(run_dir), "--port", str(port)],
        env={k: v for k, v in ENV.items() if k != "DRPO_UI_TOKEN"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/ui/api/runs", proc, 60, "drpo ui")
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "inspector on http://127.0.0.1:PORT/ui/?token=..."
        found = re.search(rf"{re.escape(base)}/ui/\?token=(\S+)", line)
        assert found, line
        yield UI(base, found.group(1), run_dir, proc)
    finally:
        stop(proc, 10)


BAD_JUDGES = [
    ({"judge_model": "openai-compatible:x@http://attacker.example/v1"}, "not a server"),
    ({"judge_model": "fake:log=PLANTED"}, "may not name a file"),
    ({"judge_model": "fake:events=PLANTED"}, "may not name a file"),
    ({"judge_model": "fake:hold=PLANTED"}, "may not name a file"),
    ({"judge_model": "hf:/etc"}, "local model path"),
    ({"judge_model": "fake", "judge_node": "this:s"}, "not one this server knows"),
    ({"judge_model": "fake", "judge_node": "builtins:print"}, "not one this server knows"),
    ({"judge_model": "fake", "extra": 1}, "Extra inputs"),
    ({"judge_model": "fake", "level": "0"}, "valid integer"),
]


def test_hostile_requests_are_refused_and_change_nothing(ui: UI) -> None:
    before = tree_digest(ui.run_dir)
    evil, json_type, form = "http://evil.example", "application/json", "x-www-form-urlencoded"
    rebound = {"host": "evil.example"}
    probes: list[tuple[tuple[int, Any], int, str]] = [
        # a cross-site form or fetch: no token, a foreign Origin, text/plain
        (ui.post("fork", GOOD_FORK), 401, "needs its token"),
        (ui.post("stop", {}), 401, "needs its token"),
        (ui.post("stop", {}, **{"x-drpo-token": "guess"}), 401, "wrong token"),
        (ui.post("fork", GOOD_FORK, authorization=f"Basic {ui.token}"), 401, "needs its token"),
        (ui.authed("fork", GOOD_FORK, origin=evil), 403, "another page"),
        (ui.authed("stop", {}, origin="null"), 403, "another page"),
        (ui.authed("stop", {}, **{"sec-fetch-site": "cross-site"}), 403, "another site"),
        (ui.authed("fork", GOOD_FORK, **{"content-type": "text/plain"}), 415, "application/json"),
        (ui.authed("answer", "action=approve", **{"content-type": f"application/{form}"}), 415,
         "application/json"),
        # DNS rebinding: evil.example resolves to 127.0.0.1, the Host header still says so
        (request(ui.base, "GET", f"/ui/api/runs/{RUN}", None, rebound), 403, "Host"),
        (ui.authed("stop", {}, host="evil.example:80"), 403, "Host"),
        (request(ui.base, "GET", "/ui/", None, rebound), 403, "Host"),
        (request(ui.base, "GET", "/ui/api/runs", None, {"host": "127.0.0.1.evil.example"}), 403,
         "Host"),
        (request(ui.base, "GET", "/ui/api/runs", None, {"host": "127.evil.example:80"}), 403,
         "Host"),
        # bodies: over the cap, nested past the parser's recursion limit, not JSON
        (ui.authed("fork", {**GOOD_FORK, "pad": "x" * 70_000}), 413, "over"),
        (ui.authed("fork", "[" * 40_000 + "]" * 40_000, **{"content-type": json_type}), 413, "ove"),
        (ui.authed("fork", "[" * 30_000, **{"content-type": json_type}), 400, "nested too deeply"),
        (ui.authed("fork", "{nope", **{"content-type": json_type}), 400, "not valid JSON"),
        (ui.authed("replay", {"checkpoint_id": "../../etc"}), 400, "pattern"),
        *[(ui.authed("fork", {**GOOD_FORK, **b}), 400, m) for b, m in BAD_JUDGES],
    ]  # fmt: skip
    for (status, body), want_status, words in probes:
        message = body["error"] if isinstance(body, dict) else body
        assert status == want_status and words in message and "\n" not in message, (status, body)
    assert tree_digest(ui.run_dir) == before  # no fork, no STOP file, no log file
    assert not list(Path.cwd().glob("PLANTED*"))
    assert ui.proc.stdout is not None and ui.proc.poll() is None
    # nothing was imported or called: `import this` and print() would write to stdout
    stop(ui.proc, 10)
    assert ui.proc.stdout.read() == ""


def test_the_token_holder_forks_and_stops(tmp_path: Path) -> None:
    """The same server, with the token: a fork with another judge model and a stop work, and a
    judge node or model named when the server was started may be used from the page."""
    run_dir = tmp_path / "runs"
    _optimize(run_dir)
    port, token = free_port(), "t0ken-for-this-test"
    spec = "openai-compatible:judge@http://127.0.0.1:9/v1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(run_dir), "--port", str(port),
         "--judge-node", "tests.custom_judge:length_judge", "--model", spec],
        env={**ENV, "DRPO_UI_TOKEN": token},
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {"x-drpo-token": token, "origin": base}
    try:
        wait_until_up(base + "/ui/api/runs", proc, 60, "drpo ui")
        status, body = request(base, "POST", f"/ui/api/runs/{RUN}/fork", GOOD_FORK, headers)
        assert status == 200, body
        assert body["run_id"] == f"{RUN}-fork-1"
        custom = {**GOOD_FORK, "judge_node": "tests.custom_judge:length_judge"}
        assert request(base, "POST", f"/ui/api/runs/{RUN}/fork", custom, headers)[0] == 200
        started = {**GOOD_FORK, "judge_model": spec.replace(":judge@", ":other@")}
        status, body = request(base, "POST", f"/ui/api/runs/{RUN}/fork", started, headers)
        assert status != 400, body  # the URL was named at start: accepted (the fork may fail)
        bearer = {"authorization": f"Bearer {token}"}
        status, body = request(base, "POST", f"/ui/api/runs/{RUN}/stop", {}, bearer)
        assert status == 200 and "stop requested" in body["message"]
    finally:
        stop(proc, 10)


def test_bad_start_values_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ui", "--run-dir", str(tmp_path), "--judge-node", "no_such_module:x"]) == 2
    assert "cannot import judge" in capsys.readouterr().err
    assert main(["ui", "--run-dir", str(tmp_path), "--model", "nope:x"]) == 2
    assert "unknown model spec" in capsys.readouterr().err


def test_off_loopback_every_request_needs_the_token(tmp_path: Path) -> None:
    """Bound to all addresses, the page opens with the token in its URL and the API answers
    only with the token; without it even reads are refused."""
    _optimize(tmp_path)
    port, token = free_port(), "t0ken-off-loopback"
    proc = subprocess.Popen(
        [sys.executable, "-m", "drpo.cli", "ui", "--run-dir", str(tmp_path), "--port", str(port),
         "--host", "0.0.0.0"],
        env={**ENV, "DRPO_UI_TOKEN": token}, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_answer(base, "/ui/api/runs", proc) == 401
        assert request(base, "GET", "/ui/")[0] == 401
        assert request(base, "GET", f"/ui/?token={token}")[0] == 200
        status, runs = request(base, "GET", "/ui/api/runs", None, {"x-drpo-token": token})
        assert status == 200 and [r["run_id"] for r in runs] == [RUN]
    finally:
        stop(proc, 10)
