"""A small OpenAI-compatible chat server for fault tests: loopback only, bounded, deterministic.

It answers ``POST /v1/chat/completions`` with the replies of the fake model
(drpo/llm/backends/fake.py) and injects faults at configured rates: HTTP 429, HTTP 500, a timeout
(it holds the request longer than the client waits), empty content and garbage content (the last two
only for JSON calls, i.e. requests with a ``response_format``). Faults are chosen by a hash of the
request and its attempt number, so a run is reproducible; at most ``max_streak`` faults in a row hit
the same request, so a client that retries enough always gets through. ``--status 401`` answers
every request with that status (a permanent failure). ``GET /stats`` returns the counters.

The server stops by itself after ``max_requests`` requests or ``deadline_s`` seconds.

    python -m tests.fault_server --rate 429=0.2 --rate 500=0.1 --rate timeout=0.05 [--key K]
prints ``PORT <n>`` on stdout once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from drpo.llm.backends.fake import FakeChatModel

FAULTS = ("429", "500", "timeout", "empty", "garbage")
JSON_ONLY = ("empty", "garbage")


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    faults: tuple[str, ...] = FAULTS

    def __init__(
        self,
        rates: dict[str, float] | None = None,
        *,
        key: str | None = None,
        status: int | None = None,
        max_streak: int = 2,
        hang_s: float = 3.0,
        max_requests: int = 5000,
        deadline_s: float = 600.0,
        port: int = 0,
        record: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.rates = {k: float(v) for k, v in (rates or {}).items()}
        unknown = set(self.rates) - set(self.faults)
        if unknown or sum(self.rates.values()) > 1:
            raise ValueError(f"bad fault rates {self.rates}")
        self.key, self.status, self.max_streak, self.hang_s = key, status, max_streak, hang_s
        self.max_requests, self.deadline = max_requests, time.monotonic() + deadline_s
        self.fake = FakeChatModel()
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.streaks: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        # record: every answered chat request (model, kind: the JSON schema's name or
        # "generate", the messages' text), for tests that check which calls a run made
        self.record, self.log = record, list[dict[str, str]]()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, killed run) is normal here: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()
        threading.Thread(target=self._watchdog, daemon=True).start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the socket: a client still pointed here (a run the LangGraph
        server retries after a restart) is refused at once instead of waiting for a timeout."""
        super().shutdown()
        self.server_close()

    def _watchdog(self) -> None:
        while time.monotonic() < self.deadline and self.stats["requests"] < self.max_requests:
            time.sleep(0.2)
        self.shutdown()

    def fault_for(self, body: dict[str, Any]) -> str | None:
        """The fault (or None) for this attempt of this request."""
        # a re-sample (another seed, temperature or cap) is the same request for the streak
        sampling = ("seed", "temperature", "max_tokens", "max_completion_tokens")
        same = {k: v for k, v in body.items() if k not in sampling}
        key = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.attempts[key] += 1
            roll = int(hashlib.sha256(f"{key}:{self.attempts[key]}".encode()).hexdigest(), 16)
            if self.streaks[key] >= self.max_streak:
                self.streaks[key] = 0
                return None
            point, edge = (roll % 10_000) / 10_000, 0.0
            for fault in self.faults:
                edge += self.rates.get(fault, 0.0)
                if point < edge:
                    if not self.applies(fault, body):  # drawn, but not for this request
                        break
                    self.streaks[key] += 1
                    return fault
            self.streaks[key] = 0
            return None

    def applies(self, fault: str, body: dict[str, Any]) -> bool:
        return fault not in JSON_ONLY or bool(body.get("response_format"))

    def reply(self, body: dict[str, Any], fmt: dict[str, Any] | None = None) -> str:
        """The fake model's reply (``fmt``: the JSON schema asked for, else the request's
        ``response_format``); model names starting with "inverse" judge the other way."""
        roles = {"system": SystemMessage, "assistant": AIMessage}
        messages: list[BaseMessage] = [
            roles.get(m.get("role"), HumanMessage)(_text(m.get("content")))
            for m in body["messages"]
        ]
        fmt = fmt or body.get("response_format")
        kind, _, content = self.fake._reply(messages, response_format=fmt, seed=body.get("seed"))
        if kind == "judge" and str(body.get("model", "")).startswith("inverse"):
            scores = json.loads(content)
            for value in scores.values():
                value["score"] = 6 - int(value["score"])
            content = json.dumps(scores)
        return content

    def completion(self, body: dict[str, Any], fault: str | None) -> tuple[int, dict[str, Any]]:
        """The status and body of a chat completion (subclasses add methods and faults)."""
        content = {"empty": "", "garbage": "<html>502 Bad Gateway</html> {{{"}.get(fault or "")
        if content is None:
            content = self.reply(body)
            if self.record:
                with self.lock:
                    self.log.append(_entry(body))
        return 200, completion(body, {"role": "assistant", "content": content}, "stop")


def completion(body: dict[str, Any], message: dict[str, Any], finish: str) -> dict[str, Any]:
    """An OpenAI chat completion object around one message."""
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _entry(body: dict[str, Any]) -> dict[str, str]:
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    return {
        "model": str(body.get("model", "")),
        "kind": str(schema.get("name") or "generate"),
        "text": "\n".join(_text(m.get("content")) for m in body["messages"]),
    }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


class JSONHandler(BaseHTTPRequestHandler):
    """Quiet, HTTP/1.1, JSON replies (the loopback stand-ins' common part)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Handler(JSONHandler):
    server: FaultServer

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "fault", "code": status}})

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/stats"):
            with self.server.lock:
                self._send(200, dict(self.server.stats))
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with srv.lock:
            srv.stats["requests"] += 1
        if srv.status is not None:
            self._error(srv.status, f"permanent fault {srv.status}")
            return
        if srv.key is not None and self.headers.get("Authorization") != f"Bearer {srv.key}":
            with srv.lock:
                srv.stats["401"] += 1
            self._error(401, "invalid api key")
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, "not found")
            return
        fault = srv.fault_for(body)
        with srv.lock:
            srv.stats[fault or "ok"] += 1
        if fault == "429":
            self._error(429, "rate limited (injected)")
            return
        if fault == "500":
            self._error(500, "internal error (injected)")
            return
        if fault == "timeout":
            time.sleep(srv.hang_s)  # the client has given up by now
            self.close_connection = True
            return
        status, payload = srv.completion(body, fault)
        self._send(status, payload)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rate", action="append", default=[], help="FAULT=RATE, FAULT in " + str(FAULTS)
    )
    p.add_argument("--key", help="require this bearer key (else 401)")
    p.add_argument("--status", type=int, help="answer every request with this HTTP status")
    p.add_argument("--max-streak", type=int, default=2)
    p.add_argument("--hang-s", type=float, default=3.0)
    p.add_argument("--max-requests", type=int, default=5000)
    p.add_argument("--deadline-s", type=float, default=600.0)
    args = p.parse_args(argv)
    rates = dict(r.split("=", 1) for r in args.rate)
    server = FaultServer(
        {k: float(v) for k, v in rates.items()},
        key=args.key,
        status=args.status,
        max_streak=args.max_streak,
        hang_s=args.hang_s,
        max_requests=args.max_requests,
        deadline_s=args.deadline_s,
    )
    print(f"PORT {server.port}", flush=True)
    threading.Thread(target=server._watchdog, daemon=True).start()
    server.serve_forever(poll_interval=0.1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
