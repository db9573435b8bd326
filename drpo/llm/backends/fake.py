"""A deterministic fake chat model for tests and dry runs.

Same input -> same output. It answers every role: aspect selection, judge JSON, transition JSON
(when called with a JSON-schema ``response_format``), any other JSON schema with a valid
instance of it (the holistic judge's, ...), and plain answers. It can add latency, return
malformed JSON at a given rate, and counts its calls: in memory, optionally as JSON lines in a
``log`` file (one line per finished call) so that calls can be counted across processes, and in
an ``events`` file (a "start" line when a call starts, a "done" line when it finishes, with the
process id) so that a test can see which calls were in flight when a process was killed. While
its ``hold`` file exists, each call waits before it answers: a test holds a run in progress (in
another process, on a server) for as long as it needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable
from pydantic import BaseModel, PrivateAttr

from drpo.core.aspects import ASPECTS
from drpo.llm.backends.base import ReplyChatModel
from drpo.llm.backends.structured import structured_via_json_schema

KINDS = {
    "AspectSelectionReply": "select",
    "JudgeReply": "judge",
    "Overall": "judge",  # the holistic judge (drpo/llm/judges.py)
    "PromptTransitionReply": "transition",
    "ResponseTransitionReply": "transition",
}


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12], 16)


class FakeChatModel(ReplyChatModel):
    latency_ms: float = 0.0
    malformed_rate: float = 0.0
    log: str | None = None
    events: str | None = None
    hold: str | None = None
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _attempts: Counter[str] = PrivateAttr(default_factory=Counter)
    calls: Counter[str] = Counter()

    def model_post_init(self, context: Any) -> None:
        self.calls = Counter()

    @property
    def _llm_type(self) -> str:
        return "fake"

    def with_structured_output(
        self, schema: type[BaseModel] | dict[str, Any], **kwargs: Any
    ) -> Runnable[Any, Any]:
        return structured_via_json_schema(self, schema)

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> tuple[str, str, str]:
        text = "\n".join(str(m.content) for m in messages)
        fmt = kwargs.get("response_format") or {}
        spec = fmt.get("json_schema", {})
        kind = KINDS.get(spec.get("name", ""), "json") if fmt else "generate"
        key = f"{_digest(kind, text, kwargs.get('seed')):x}"  # identifies the call
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        malformed = self.malformed_rate > 0 and kind != "generate"
        if malformed and _digest(key, attempt) % 1000 < self.malformed_rate * 1000:
            return kind, key, '{"analysis": "truncated'
        # only sampled roles depend on the seed; a re-sampled judge or selector answers the same
        as_key = kind in ("transition", "generate") or kwargs.get("seed") is None
        h = int(key, 16) if as_key else _digest(kind, text, None)  # the key's digest when equal
        if kind == "select":
            names = list(ASPECTS)
            picked = [names[(h >> (4 * i)) % len(names)] for i in range(2 + h % 4)]
            reply: Any = {
                "query_analysis": {
                    k: "fake analysis"
                    for k in (
                        "main_topic",
                        "user_intent",
                        "ambiguities",
                        "response_format",
                        "challenges",
                    )
                },
                "aspects_selection": {
                    "reasoning": "fake",
                    "selected_aspects": {
                        n: True for n in [*dict.fromkeys(picked), "Helpfulness", "Clarity"][:5]
                    },
                    "new_aspects": [],
                },
            }
        elif kind == "judge" and spec["name"] == "JudgeReply":
            schema = spec.get("schema", {})
            aspects = schema.get("required", [])
            props = schema.get("properties", {})
            reply = {  # the reason field as the schema names it (rationale, or reason in evals)
                a: {
                    _reason(props.get(a, {})): f"fake rationale {a}",
                    "score": 1 + _digest(h, a) % 5,
                }
                for a in aspects
            }
        elif kind == "transition":
            field = (
                "new_system_prompt" if spec["name"] == "PromptTransitionReply" else "new_response"
            )
            # a rewrite keeps the first line and the last 3 tips, then adds one: prompts stay
            # bounded, as a real optimizer's rewrites do (and checkpoints can be compared by D)
            lines = _current(text).splitlines()
            kept = "\n".join(lines[:1] + lines[1:][-3:])
            limits = spec.get("schema", {}).get("properties", {}).get(field, {})
            new = _fit(f"{kept}\n- Tip {h % 100000:05d}.", limits)
            reply = {"analysis": "fake", "thought": "fake", field: new}
        elif kind == "generate":
            return kind, key, f"Fake answer {h % 100000:05d}."
        else:  # any other schema (the holistic judge's, ...): a valid instance of it
            schema = spec.get("schema", {})
            reply = instance(schema, h, schema.get("$defs", {}))
        return kind, key, json.dumps(reply)

    def _record(self, kind: str, key: str) -> None:
        with self._lock:
            self.calls[kind] += 1
            if self.log:
                with Path(self.log).open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"kind": kind, "key": key}) + "\n")
        self._event("done", kind, key)

    def _event(self, event: str, kind: str, key: str) -> None:
        if self.events:
            line = json.dumps({"event": event, "kind": kind, "key": key, "pid": os.getpid()})
            with self._lock, Path(self.events).open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def _start(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> tuple[str, str, str]:
        kind, key, content = self._reply(messages, **kwargs)
        self._event("start", kind, key)
        return kind, key, content

    def _message(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        kind, key, content = self._start(messages, kwargs)
        time.sleep(self.latency_ms / 1000)
        while self.hold and Path(self.hold).exists():
            time.sleep(0.05)
        self._record(kind, key)
        return _ai_message(kind, content, messages)

    async def _amessage(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        kind, key, content = self._start(messages, kwargs)
        await asyncio.sleep(self.latency_ms / 1000)
        while self.hold and Path(self.hold).exists():
            await asyncio.sleep(0.05)
        self._record(kind, key)
        return _ai_message(kind, content, messages)


def _ai_message(kind: str, content: str, messages: list[BaseMessage]) -> AIMessage:
    # token usage as whitespace-separated words, so budgets and usage can be tested
    used = sum(len(str(m.content).split()) for m in messages), len(content.split())
    usage = UsageMetadata(input_tokens=used[0], output_tokens=used[1], total_tokens=sum(used))
    return AIMessage(content, response_metadata={"kind": kind}, usage_metadata=usage)


def _current(text: str) -> str:
    """The text under the '## Current ...' heading of a transition prompt."""
    start = text.find("## Current")
    if start == -1:
        return "state"
    body = text[text.find("\n", start) + 1 :]
    end = body.find("\n## ")
    return (body[:end] if end != -1 else body).strip()


def _fit(text: str, limits: dict[str, Any]) -> str:
    """``text`` within a string schema's minLength and maxLength."""
    text = text.ljust(int(limits.get("minLength", 0)), ".")
    return text[: int(limits.get("maxLength", len(text)))]


def _reason(item: dict[str, Any]) -> str:
    names = [k for k in item.get("properties", {}) if k != "score"]
    return names[0] if names else "rationale"


def instance(schema: dict[str, Any], h: int, defs: dict[str, Any], path: str = "") -> Any:
    """A deterministic value that satisfies a JSON schema (the subset pydantic and
    drpo/core/schemas.py emit: objects, arrays, strings, numbers, booleans, enums, refs, anyOf)."""
    if "$ref" in schema:
        return instance(defs[schema["$ref"].rsplit("/", 1)[-1]], h, defs, path)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][_digest(h, path) % len(schema["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance(options[0], h, defs, path)
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance(sub, h, defs, f"{path}/{name}") for name, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [instance(schema.get("items", {}), h, defs, f"{path}/{i}") for i in range(count)]
    if kind in ("integer", "number"):
        low, high = int(schema.get("minimum", 1)), int(schema.get("maximum", 5))
        return low + _digest(h, path) % (high - low + 1)
    if kind == "boolean":
        return bool(_digest(h, path) % 2)
    return _fit(f"fake {path.rsplit('/', 1)[-1] or 'text'} {h % 1000:03d}", schema)
