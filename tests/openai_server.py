"""An OpenAI-like loopback server for structured-output tests (extends tests/fault_server.py).

It takes only the structured-output methods it is given (``json_schema``, ``tools``,
``json_object``) and answers 400 for the others, as a tools-only gateway does; with
``strict=True`` it checks every schema of every request against OpenAI's strict-mode rules and
answers 400 the way OpenAI does for a violating one; it records every request body; and it
injects non-answers: ``length`` (the reply cut, ``finish_reason: length``, only for requests
whose cap is at most ``cut_cap``), ``refusal`` (OpenAI's ``refusal`` field) and ``bad_args``
(a tool call whose arguments are not JSON). Replies come from the fake model, as in the fault
server; for ``json_object`` the schema is read from the prompt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fault_server import FAULTS, FaultServer, completion

METHODS = ("json_schema", "tools", "json_object")
FORBIDDEN = ("minLength", "maxLength", "minItems", "maxItems", "default", "$ref")
SCHEMA_IN_PROMPT = re.compile(r"follows this JSON schema.*?```json\n(.*?)\n```", re.DOTALL)


def strict_violations(schema: Any, where: tuple[str, ...] = ()) -> list[str]:
    """OpenAI strict-mode problems of a JSON schema, in OpenAI's wording."""
    problems: list[str] = []
    if isinstance(schema, list):
        for item in schema:
            problems += strict_violations(item, where)
        return problems
    if not isinstance(schema, dict):
        return problems
    context = f"In context={where!r}, "
    problems += [f"{context}'{key}' is not permitted." for key in FORBIDDEN if key in schema]
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            problems.append(
                f"{context}'additionalProperties' is required to be supplied and to be false."
            )
        properties = schema.get("properties") or {}
        missing = [name for name in properties if name not in (schema.get("required") or [])]
        if missing:
            problems.append(
                f"{context}'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
        for name, sub in properties.items():
            problems += strict_violations(sub, (*where, "properties", name))
    for key in ("items", "anyOf", "oneOf", "allOf"):
        if key in schema:
            problems += strict_violations(schema[key], (*where, key))
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            problems += strict_violations(sub, (*where, key, name))
    return problems


def method_of(body: dict[str, Any]) -> str | None:
    if body.get("tools"):
        return "tools"
    fmt = body.get("response_format") or {}
    return str(fmt["type"]) if fmt.get("type") in ("json_schema", "json_object") else None


def schemas_of(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(param, name, schema) of every schema a request carries."""
    out = []
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        out.append(("response_format", fmt["json_schema"]["name"], fmt["json_schema"]["schema"]))
    for tool in body.get("tools") or []:
        out.append(("tools", tool["function"]["name"], tool["function"]["parameters"]))
    return out


def cap_of(body: dict[str, Any]) -> int | None:
    cap = body.get("max_tokens") or body.get("max_completion_tokens")
    return int(cap) if cap else None


def _name_from_properties(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    for field, name in (
        ("query_analysis", "AspectSelectionReply"),
        ("new_system_prompt", "PromptTransitionReply"),
        ("new_response", "ResponseTransitionReply"),
    ):
        if field in props:
            return name
    return "JudgeReply"


def openai_error(message: str, param: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param}}


class OpenAIServer(FaultServer):
    faults = (*FAULTS, "length", "refusal", "bad_args")

    def __init__(
        self,
        rates: dict[str, float] | None = None,
        *,
        formats: tuple[str, ...] = METHODS,
        strict: bool = False,
        cut_cap: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.formats, self.strict, self.cut_cap = set(formats), strict, cut_cap
        self.requests: list[dict[str, Any]] = []
        super().__init__(rates, **kwargs)

    def applies(self, fault: str, body: dict[str, Any]) -> bool:
        method = method_of(body)
        if fault == "length":
            cap = cap_of(body)
            return self.cut_cap is None or (cap is not None and cap <= self.cut_cap)
        if fault == "bad_args":
            return method == "tools"
        if fault in ("refusal", "empty", "garbage"):
            return method is not None
        return True

    def _fmt(self, body: dict[str, Any], method: str | None) -> dict[str, Any] | None:
        if method == "tools":
            fn = body["tools"][0]["function"]
            return {
                "type": "json_schema",
                "json_schema": {"name": fn["name"], "schema": fn["parameters"]},
            }
        if method == "json_object":
            prompt = str(body["messages"][-1].get("content") or "")
            match = SCHEMA_IN_PROMPT.search(prompt)
            schema = json.loads(match.group(1)) if match else {}
            name = _name_from_properties(schema)
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        return body.get("response_format")

    def completion(self, body: dict[str, Any], fault: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(body)
        method = method_of(body)
        if method is not None and method not in self.formats:
            with self.lock:
                self.stats[f"rejected {method}"] += 1
            param = "tools" if method == "tools" else "response_format"
            return 400, openai_error(f"{param} of type {method!r} is not supported", param)
        if self.strict:
            for param, name, schema in schemas_of(body):
                if problems := strict_violations(schema):
                    message = f"Invalid schema for {param} '{name}': {problems[0]}"
                    return 400, openai_error(message, param)
        if fault in ("empty", "garbage"):
            return super().completion(body, fault)
        content = self.reply(body, self._fmt(body, method))
        finish = "tool_calls" if method == "tools" else "stop"
        if fault == "length":
            content, finish = content[: len(content) // 2], "length"
        if fault == "bad_args":
            content = content[: len(content) // 2]
        if fault == "refusal":
            refusal = "I'm sorry, I can't help with that."
            return 200, completion(
                body, {"role": "assistant", "content": None, "refusal": refusal}, "stop"
            )
        if method == "tools":
            call = {"name": body["tools"][0]["function"]["name"], "arguments": content}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "type": "function", "function": call}],
            }
            return 200, completion(body, message, finish)
        return 200, completion(body, {"role": "assistant", "content": content}, finish)
