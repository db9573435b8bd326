"""Model specs (strings) for the four roles: base, optimizer, judge, selector.

Grammar (see README "Model specs"):
  local                      embedded SmolLM2-135M-Instruct (llama.cpp, in-process)
  local:smollm2              the same
  local:gemma3-270m          embedded pretrained Gemma 3 270M, completion mode (base model only)
  openai:MODEL               OpenAI, key from OPENAI_API_KEY
  openai-compatible:MODEL@URL[,k=v,...]  any OpenAI-compatible server (vLLM, llama.cpp,
                             Ollama); key from DRPO_API_KEY or OPENAI_API_KEY, else "EMPTY";
                             k=v are extra request fields the server understands (JSON values),
                             e.g. repeat_penalty=1.15 for llama.cpp, top_k=20 for vLLM
  hf:PATH_OR_ID              a local Hugging Face model via langchain-huggingface
  fake[:k=v,...]             deterministic fake: latency_ms (0-60000), malformed_rate (0-1),
                             log and events (files in an existing folder)
  sim:world=W[,noise=S,seed=N]  simulated world with known prompt quality (drpo/llm/backends/sim.py)
Keys are read from the environment when the model is built; a spec never holds a secret.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from drpo.core.limits import INT64_MAX, MAX_SPEC_CHARS, LimitError, check_number
from drpo.core.limits import check_writable_file as _check_file
from drpo.llm.backends.sim import WORLDS

Provider = Literal["local", "openai", "openai-compatible", "hf", "fake", "sim"]
LOCAL_MODELS = ("smollm2", "gemma3-270m")


class ModelSpec(BaseModel):
    provider: Provider
    model: str = ""
    base_url: str | None = None
    options: dict[str, str] = {}


class SpecError(ValueError):
    """A model spec that does not parse."""


def parse_spec(spec: str) -> ModelSpec:
    """The parsed spec; a SpecError names what is wrong (every option value is checked)."""
    if len(spec) > MAX_SPEC_CHARS:
        raise SpecError(f"model spec of {len(spec)} characters; at most {MAX_SPEC_CHARS}")
    try:
        return _parse(spec)
    except LimitError as exc:
        raise SpecError(f"{exc} in {spec!r}") from None


def _parse(spec: str) -> ModelSpec:
    provider, _, rest = spec.strip().partition(":")
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
            if key in ("log", "events"):
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
            if not (sep and key.isidentifier()) or key in _RESERVED:
                raise SpecError(f"bad request field {item!r} in {spec!r}")
            json_value(value)  # NaN and Infinity are refused (no server reads them)
            extra[key] = value
        return ModelSpec(provider="openai-compatible", model=model, base_url=url, options=extra)
    if provider == "hf" and rest:
        return ModelSpec(provider="hf", model=rest)
    raise SpecError(
        f"unknown model spec {spec!r}; expected local[:smollm2|:gemma3-270m], openai:MODEL, "
        "openai-compatible:MODEL@URL, hf:PATH_OR_ID, fake[:k=v,...] or sim:world=W[,k=v,...]"
    )


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
}
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
