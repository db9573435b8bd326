"""JSON schemas as they go on the wire to OpenAI-style servers: the strictest common subset.

OpenAI's strict mode (and the Gemini and Anthropic compatibility layers) accept a subset of JSON
Schema: every object ``additionalProperties: false``, every property listed in ``required``
(optional becomes nullable), no ``minLength``/``maxLength``/``minItems``/``maxItems``, no
``default``, no ``$ref``. ``wire_schema`` rewrites a reply schema into that subset; the bounds it
drops are checked after the reply by pydantic (``drpo/core/schemas.py``), and they stay in the
llama.cpp grammar of the embedded models (``structured_via_json_schema``), where they stop
runaway strings. Small integer ranges become enums, which grammar-based servers enforce.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel

DROPPED = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "default", "title", "$defs", "definitions"}
)
SUBSCHEMAS = ("items", "anyOf", "oneOf", "allOf", "not", "prefixItems")


def schema_of(schema: type[BaseModel] | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, JSON schema) of a pydantic model or a JSON-schema dict (its ``title`` names it)."""
    if isinstance(schema, dict):
        return str(schema.get("title", "reply")), copy.deepcopy(schema)
    return schema.__name__, schema.model_json_schema()


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``{"$ref": "#/$defs/X"}`` by X (the reply schemas are not recursive)."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(ref := node.get("$ref"), str):
        target = _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return {key: _inline(value, defs) for key, value in node.items()}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED:
            continue
        if key == "properties":  # a map of names, not a schema: names are never dropped
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in SUBSCHEMAS or key == "additionalProperties":
            out[key] = _strict(value)
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("properties", {})
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    if (values := small_int_enum(out)) is not None:
        out["enum"] = values
        del out["minimum"], out["maximum"]
    return out


def small_int_enum(node: dict[str, Any]) -> list[int] | None:
    """The values of a bounded integer with at most 65 of them (a 1..5 score), else None."""
    low, high = node.get("minimum"), node.get("maximum")
    if (
        node.get("type") == "integer"
        and isinstance(low, int)
        and isinstance(high, int)
        and 0 <= high - low <= 64
        and "enum" not in node
    ):
        return list(range(low, high + 1))
    return None


def wire_schema(schema: type[BaseModel] | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, strict-subset JSON schema) of a reply schema."""
    name, body = schema_of(schema)
    defs = {**body.get("definitions", {}), **body.get("$defs", {})}
    return name, _strict(_inline(body, defs))


def schema_instructions(wire: dict[str, Any]) -> str:
    """The schema in the prompt, for servers that only take ``{"type": "json_object"}``."""
    return (
        "\n\nReply with one JSON object, and nothing else, that follows this JSON schema "
        "(every property is required):\n```json\n" + json.dumps(wire) + "\n```"
    )
