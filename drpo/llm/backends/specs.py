"""Model specs (strings) for the four roles: base, optimizer, judge, selector.

Grammar (see README "Model specs"):
  local                      embedded SmolLM2-135M-Instruct (llama.cpp, in-process)
  local:smollm2              the same
  local:gemma3-270m          embedded pretrained Gemma 3 270M, completion mode (base model only)
  openai:MODEL               OpenAI, key from OPENAI_API_KEY
  openai-compatible:MODEL@URL[,mode=completion][,k=v,...]  any OpenAI-compatible server (vLLM,
                             llama.cpp, Ollama); key from DRPO_API_KEY or OPENAI_API_KEY, else
                             "EMPTY"; k=v are extra request fields the server understands (JSON
                             values), e.g. repeat_penalty=1.15 for llama.cpp, top_k=20 for vLLM
  hf:PATH_OR_ID[,mode=completion][,max_new_tokens=N]  a local Hugging Face model via
                             langchain-huggingface; N new tokens at most (1-1000000, default 512)
  fake[:k=v,...]             deterministic fake: latency_ms (0-60000), malformed_rate (0-1),
                             log and events (files in an existing folder), hold (a file: while
                             it exists, each call waits before it answers)
  sim:world=W[,noise=S,seed=N]  simulated world with known prompt quality (drpo/llm/backends/sim.py)
mode=completion (mode=chat is the default): a base model without a chat template, prompted in
the paper's ``# Query:`` / ``# Answer:`` layout through the server's /v1/completions or a
text-generation pipeline (drpo/llm/backends/completion.py). Like local:gemma3-270m it answers
plain text, never JSON: only the base role may use it (``parse_spec(spec, role)``).
Keys are read from the environment when the model is built; a spec never holds a secret.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import BaseModel

from drpo.core.limits import (
    INT64_MAX,
    MAX_SPEC_CHARS,
    MAX_TOKENS_CAP,
    LimitError,
    check_number,
)
from drpo.core.limits import check_writable_file as _check_file
from drpo.llm.backends.sim import WORLDS

Provider = Literal["local", "openai", "openai-compatible", "hf", "fake", "sim"]
GEMMA = "gemma3-270m"  # pretrained, completion mode only
LOCAL_MODELS = ("smollm2", GEMMA)


class ModelSpec(BaseModel):
    provider: Provider
    model: str = ""
    base_url: str | None = None
    options: dict[str, str] = {}  # fake/sim options; extra request fields (openai-compatible)
    mode: Literal["chat", "completion"] = "chat"
    max_new_tokens: int | None = None  # hf only

    def completion_only(self) -> bool:
        """A base model that answers plain text in the paper's layout (no chat, no JSON)."""
        return self.mode == "completion" or (self.provider, self.model) == ("local", GEMMA)

    def key(self) -> str:
        """The JSON that names this model (its LLM-cache namespace); the newer fields only when
        given, so that a spec's cache entries stay those of earlier versions."""
        newer = {"mode": "chat", "max_new_tokens": None}
        return self.model_dump_json(exclude={k for k, v in newer.items() if getattr(self, k) == v})


class SpecError(ValueError):
    """A model spec that does not parse."""


def server_key() -> str:
    """An OpenAI-compatible server's key: DRPO_API_KEY, else OPENAI_API_KEY, else "EMPTY"."""
    return os.environ.get("DRPO_API_KEY") or os.environ.get("OPENAI_API_KEY") or "EMPTY"


def parse_spec(spec: str, role: str | None = None) -> ModelSpec:
    """The parsed spec; a SpecError names what is wrong (every option value is checked). With a
    ``role``, also whether that role may use it: a completion-only model is the base model's."""
    if len(spec) > MAX_SPEC_CHARS:
        raise SpecError(f"model spec of {len(spec)} characters; at most {MAX_SPEC_CHARS}")
    try:
        parsed = _parse(spec)
    except LimitError as exc:
        raise SpecError(f"{exc} in {spec!r}") from None
    if role is not None and role != "base" and parsed.completion_only():
        raise SpecError(
            f"{spec!r} is a base model in completion mode: it answers plain text, not the "
            f"JSON the {role} must return; only the base role may use it"
        )
    return parsed


def _parse(spec: str) -> ModelSpec:
    provider, _, rest = spec.strip().partition(":")
    fields: dict[str, Any] = {}  # mode, max_new_tokens: given only when the spec names them
    if provider == "local":
        model = rest or "smollm2"
        if model not in LOCAL_MODELS:
            raise SpecError(f"unknown local model {model!r} in {spec!r}; choose {LOCAL_MODELS}")
        return ModelSpec(provider="local", model=model)
    if provider == "fake":
        options: dict[str, str] = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in _FAKE_RANGES:
                raise SpecError(f"bad fake option {item!r} in {spec!r}")
            if key in FAKE_FILE_OPTIONS:
                _check_file(key, value)
            else:
                check_number(key, _float(key, value), *_FAKE_RANGES[key])
            options[key] = value
        return ModelSpec(provider="fake", options=options)
    if provider == "sim":
        return ModelSpec(provider="sim", options=_sim_options(spec, rest))
    if provider == "openai" and rest:
        return ModelSpec(provider="openai", model=rest)
    if provider == "openai-compatible":
        model, at, rest = rest.partition("@")
        url, *items = rest.split(",")
        if not (model and at and url.startswith(("http://", "https://"))):
            raise SpecError(
                f"expected openai-compatible:MODEL@http(s)://HOST/v1[,k=v,...], got {spec!r}"
            )
        extra: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if key == "mode":
                fields["mode"] = _mode(value, spec)
                continue
            if not (sep and key.isidentifier()) or key in _RESERVED:
                raise SpecError(f"bad request field {item!r} in {spec!r}")
            json_value(value)  # NaN and Infinity are refused (no server reads them)
            extra[key] = value
        return ModelSpec(
            provider="openai-compatible", model=model, base_url=url, options=extra, **fields
        )
    if provider == "hf" and rest:
        path, *items = rest.split(",")
        for item in items:
            key, sep, value = item.partition("=")
            if key == "mode":
                fields["mode"] = _mode(value, spec)
            elif key == "max_new_tokens" and value.strip().isdigit():
                check_number("max_new_tokens", int(value), 1, MAX_TOKENS_CAP)
                fields["max_new_tokens"] = int(value)
            else:
                raise SpecError(
                    f"bad hf option {item!r} in {spec!r}; expected mode=chat|completion or "
                    f"max_new_tokens=1..{MAX_TOKENS_CAP}"
                )
        if path:
            return ModelSpec(provider="hf", model=path, **fields)
    raise SpecError(
        f"unknown model spec {spec!r}; expected local[:smollm2|:gemma3-270m], openai:MODEL, "
        "openai-compatible:MODEL@URL[,k=v,...], hf:PATH_OR_ID[,k=v,...], fake[:k=v,...] or "
        "sim:world=W[,k=v,...]"
    )


def _mode(value: str, spec: str) -> str:
    if value not in ("chat", "completion"):
        raise SpecError(f"mode={value!r} in {spec!r}; expected mode=chat or mode=completion")
    return value


def _sim_options(spec: str, rest: str) -> dict[str, str]:
    options = dict(item.partition("=")[::2] for item in filter(None, rest.split(",")))
    try:
        ok = options.get("world") in WORLDS and 0 <= float(options.get("noise", 0)) <= 100
        ok = ok and abs(int(options.get("seed", 0))) <= INT64_MAX
    except ValueError:
        ok = False
    if not ok or set(options) - {"world", "noise", "seed"}:
        raise SpecError(
            f"bad sim spec {spec!r}; expected sim:world={'|'.join(WORLDS)}[,noise=0-100]"
            "[,seed=N (64-bit)]"
        )
    return options


def _float(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise LimitError(f"{key}={value!r} is not a number") from None


_FAKE_RANGES: dict[str, tuple[float, float]] = {
    "latency_ms": (0, 60_000),
    "malformed_rate": (0, 1),
    "log": (0, 0),
    "events": (0, 0),
    "hold": (0, 0),
}
FAKE_FILE_OPTIONS = ("log", "events", "hold")  # fake options that name a file
# request fields a spec may not set: the client and the calls own them
_RESERVED = {"model", "messages", "tools", "tool_choice", "response_format", "stream", "api_key"}


def json_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        raise LimitError("a request field nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise LimitError(f"{name} is not a finite JSON number")
