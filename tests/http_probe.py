"""Raw HTTP requests to a server on loopback with any Host, Origin and body (what a hostile page
or a DNS-rebinding attack sends), and waiting for a server's first answer."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from typing import Any

from tests.support.files import tree_digest

__all__ = ["request", "tree_digest", "wait_for_answer"]  # tree_digest: tests/support/files.py


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    """(status, JSON body or text). ``base`` is http://127.0.0.1:PORT; a dict or list body is
    sent as JSON with ``content-type: application/json`` unless ``headers`` say otherwise."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sent = dict(headers or {})
    if isinstance(body, dict | list):
        sent.setdefault("content-type", "application/json")
        body = json.dumps(body)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        # a Host in ``headers`` replaces the one http.client would send
        conn.request(method, path, body=body, headers=sent)
        res = conn.getresponse()
        data = res.read()
    finally:
        conn.close()
    try:
        return res.status, json.loads(data)
    except ValueError:
        return res.status, data.decode(errors="replace")


def wait_for_answer(base: str, path: str, proc: subprocess.Popen[Any], timeout: float = 60) -> int:
    """Poll ``path`` until the server answers at all (a 401 is an answer, unlike for
    urllib-based waits); the status. Fails if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(base, "GET", path, timeout=5)[0]
        except OSError:
            assert proc.poll() is None, f"the server exited with code {proc.returncode}"
            assert time.monotonic() < deadline, f"{base} did not answer in {timeout:g} s"
            time.sleep(0.1)
