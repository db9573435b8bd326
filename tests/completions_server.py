"""A loopback server that speaks only ``POST /v1/completions`` (no chat endpoint: 404), as vLLM
does for a model without a chat template. It continues a prompt in the paper's layout with an
answer to its last ``# Query:`` block and then, as a base model does, the next made-up query;
it applies the request's stop sequences (``honor_stop=False``: it sends everything, as a server
that ignores them) and its ``max_tokens`` (words here: then ``finish_reason: length``). It
records every request body, with the path, in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fault_server import JSONHandler

QUERY, ANSWER = "# Query:\n```\n", "\n```\n\n# Answer:\n```\n"
RAMBLE = "\n```\n\n# Query:\n```\nWhat else?\n```\n\n# Answer:\n```\nMore text"


def answer_to(query: str) -> str:
    return f"Here is a short answer to: {query}"


class CompletionsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, honor_stop: bool = True, tail: str = RAMBLE) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.honor_stop, self.tail = honor_stop, tail
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> CompletionsServer:
        serve = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        serve.daemon = True
        serve.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body["prompt"][0] if isinstance(body["prompt"], list) else body["prompt"])
        last = prompt.rsplit(QUERY, 1)[-1]
        query = last.removesuffix(ANSWER) if QUERY in prompt and last.endswith(ANSWER) else None
        text = (answer_to(query) if query is not None else "no open query") + self.tail
        finish = "length"
        if self.honor_stop:
            cuts = [i for s in body.get("stop") or [] if (i := text.find(s)) != -1]
            if cuts:
                text, finish = text[: min(cuts)], "stop"
        words = text.split(" ")
        if len(words) > int(body.get("max_tokens") or 16):
            text, finish = " ".join(words[: int(body["max_tokens"])]), "length"
        used = len(prompt.split()), len(text.split())
        return {
            "id": f"cmpl-{time.monotonic_ns()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "base"),
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": used[0], "completion_tokens": used[1],
                      "total_tokens": sum(used)},
        }  # fmt: skip


class _Handler(JSONHandler):
    server: CompletionsServer

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, **body})
        if self.path.rstrip("/") != "/v1/completions":
            self._send(404, {"error": {"message": "Not Found", "type": "not_found", "code": 404}})
            return
        self._send(200, self.server.complete(body))
