"""`drpo serve` (a real `drpo serve` process, fake base model) probed as a hostile page and a
careless client would: the API key, Host and Origin checked, malformed messages and sampling
values a 400 with one line and no traceback in its log, bodies over the cap a 413, and a bounded
load of good, malformed and oversized requests on loopback answered every one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

from drpo.cli.main import main
from tests.conftest import ENV
from tests.http_probe import request, wait_for_answer
from tests.packs import make_pack
from tests.support.processes import free_port, stop

KEY = "sk-serve-test-key"
MAX_BODY = 64 * 1024


class Served:
    def __init__(self, base: str, proc: subprocess.Popen[str], log: Path) -> None:
        self.base, self.proc, self.log = base, proc, log

    def post(self, body: Any, **headers: str) -> tuple[int, Any]:
        sent = {"authorization": f"Bearer {KEY}", **headers}
        return request(self.base, "POST", "/v1/chat/completions", body, sent)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    pack, _ = make_pack(root)
    port, log = free_port(), root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "drpo.cli", "serve", str(pack), "--base", "fake",
             "--port", str(port), "--api-key", KEY, "--max-body", str(MAX_BODY)],
            env=ENV, stderr=out, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_answer(base, "/v1/models", proc)  # a 401 without the key
        yield Served(base, proc, log)
    finally:
        stop(proc, 10)


USER = [{"role": "user", "content": "What is DNA?"}]
MALFORMED: list[tuple[Any, str]] = [
    ({"messages": [1]}, "messages.0"),
    ({"messages": [None]}, "messages.0"),
    ({"messages": ["hi"]}, "messages.0"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ([1, 2], "body"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": {"a": 1}}]}, "messages.0.content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages.0.content"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "no user message"),
    ({"messages": USER, "temperature": -1}, "temperature"),
    ({"messages": USER, "temperature": "hot"}, "temperature"),
    ({"messages": USER, "max_tokens": -5}, "max_tokens"),
    ({"messages": USER, "max_tokens": 10**30}, "max_tokens"),
    ({"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
]


def test_malformed_requests_get_one_line_400s(served: Served) -> None:
    for body, words in MALFORMED:
        status, reply = served.post(body)
        message = reply["error"]["message"]
        assert status == 400 and words in message and "\n" not in message, (body, reply)
    deep = '{"messages": ' + "[" * 20_000 + "]" * 20_000 + "}"
    status, reply = served.post(deep, **{"content-type": "application/json"})
    assert status == 400 and "nested too deeply" in reply["error"]["message"]
    status, reply = served.post("{not json", **{"content-type": "application/json"})
    assert status == 400 and "not valid JSON" in reply["error"]["message"]
    assert "Traceback" not in served.log.read_text()


def test_who_may_call(served: Served) -> None:
    good = {"messages": USER}
    probes = [
        (request(served.base, "POST", "/v1/chat/completions", good), 401),
        (served.post(good, authorization="Bearer wrong"), 401),
        (request(served.base, "GET", "/v1/models"), 401),
        (served.post(good, origin="http://evil.example"), 403),
        (served.post(good, host="evil.example"), 403),
        (served.post(json.dumps(good), **{"content-type": "text/plain"}), 415),
        (served.post({"messages": USER, "pad": "x" * MAX_BODY}), 413),
    ]
    for (status, reply), want in probes:
        assert status == want, reply
        assert "\n" not in reply["error"]["message"]
    client = openai.OpenAI(base_url=served.base + "/v1", api_key=KEY)
    answer = client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    assert [m.id for m in client.models.list()] == ["drpo-aligned"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.base + "/v1", api_key="nope").models.list()


def test_a_bounded_load_of_good_and_bad_requests_is_answered_in_full(served: Served) -> None:
    """200 requests at once on loopback (140 good, 40 malformed, 20 oversized): each gets its
    answer (200, 400, 413); none is dropped, and the server stays up."""
    bodies: list[tuple[Any, int]] = [({"messages": USER}, 200)] * 140
    bodies += [({"messages": [1]}, 400)] * 40
    bodies += [({"messages": USER, "pad": "x" * (2 * MAX_BODY)}, 413)] * 20

    with ThreadPoolExecutor(len(bodies)) as pool:
        statuses = list(pool.map(lambda b: served.post(b[0])[0], bodies))
    assert statuses == [want for _, want in bodies]
    assert served.proc.poll() is None
    assert "Traceback" not in served.log.read_text()


def test_serve_refuses_bad_start_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack, _ = make_pack(tmp_path)
    for argv, words in [
        (["--no-auth", "--host", "0.0.0.0"], "needs a token"),
        (["--no-auth", "--api-key", "k"], "exclude each other"),
        (["--max-body", "10"], "--max-body"),
    ]:
        assert main(["serve", str(pack), "--base", "fake", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
