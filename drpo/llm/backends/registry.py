"""Model specs (``drpo.llm.backends.specs``) -> LangChain chat models, one loaded instance per
spec per process, each with the run's hooks (LLM-call cache, budget, usage, rate gate)."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeGuard

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from drpo.llm.backends.completion import CompletionChatModel
from drpo.llm.backends.fake import FakeChatModel
from drpo.llm.backends.sim import NOISE, SimChatModel
from drpo.llm.backends.specs import ModelSpec, SpecError, json_value, parse_spec, server_key
from drpo.llm.model_hooks import attach_hooks

if TYPE_CHECKING:  # loaded when an OpenAI model is built
    from langchain_openai import ChatOpenAI

__all__ = [
    "ModelSpec",
    "SpecError",
    "get_chat_model",
    "is_openai",
    "parse_spec",
    "spec_of",
    "with_params",
]

HF_MAX_NEW_TOKENS = 512  # an hf: model's tokens per answer unless its spec says max_new_tokens
_MODELS: dict[str, BaseChatModel] = {}
_SPECS: dict[int, str] = {}  # id of a built model -> its spec (methods are learned per spec)
_LOCK = threading.Lock()


def get_chat_model(spec: str) -> BaseChatModel:
    """The chat model of a spec; built once per process and shared by every role and task."""
    with _LOCK:
        if spec not in _MODELS:
            parsed = parse_spec(spec)
            _MODELS[spec] = attach_hooks(_build(parsed), parsed.key())
            _SPECS[id(_MODELS[spec])] = spec
        return _MODELS[spec]


def spec_of(model: BaseChatModel) -> str | None:
    """The spec a model was built from by ``get_chat_model`` (None for other models)."""
    with _LOCK:
        spec = _SPECS.get(id(model))
        return spec if spec is not None and _MODELS.get(spec) is model else None


def _build(spec: ModelSpec) -> BaseChatModel:
    if spec.provider == "fake":
        opts: dict[str, Any] = dict(spec.options)
        return FakeChatModel(
            latency_ms=float(opts.get("latency_ms", 0)),
            malformed_rate=float(opts.get("malformed_rate", 0)),
            log=opts.get("log"),
            events=opts.get("events"),
            hold=opts.get("hold"),
        )
    if spec.provider == "sim":
        return SimChatModel(
            world=spec.options["world"],
            noise=float(spec.options.get("noise", NOISE)),
            world_seed=int(spec.options.get("seed", 0)),
        )
    if spec.provider == "local":
        from drpo.llm.backends.llamacpp import ChatLlamaCpp, gemma3_path, smollm2_path

        if spec.model == "gemma3-270m":
            return ChatLlamaCpp(model_path=str(gemma3_path()), completion_mode=True)
        return ChatLlamaCpp(model_path=str(smollm2_path()))
    if spec.provider == "openai":
        from langchain.chat_models import init_chat_model

        return init_chat_model(spec.model, model_provider="openai", **_client_options())
    if spec.provider == "openai-compatible":  # backends with heavy imports load when used
        from langchain_openai import OpenAI

        from drpo.llm.backends.compatible import CompatibleChatOpenAI

        key = server_key()
        client: dict[str, Any] = {
            "model": spec.model,
            "base_url": spec.base_url,
            "api_key": SecretStr(key),
            "extra_body": {k: json_value(v) for k, v in spec.options.items()} or None,
            **_client_options(),
        }
        if spec.mode == "completion":  # the server's /v1/completions
            return CompletionChatModel(llm=OpenAI(**client, cache=False))
        return CompatibleChatOpenAI(**client)
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline

    cap = spec.max_new_tokens or HF_MAX_NEW_TOKENS
    llm = HuggingFacePipeline.from_model_id(  # one prompt per call: a tokenizer without a
        model_id=spec.model,  # pad token (GPT-2, Llama) cannot batch
        task="text-generation",
        batch_size=1,
        pipeline_kwargs={"max_new_tokens": cap},
    )
    if spec.mode == "completion":  # a text-generation pipeline, no chat template
        return CompletionChatModel(llm=llm.model_copy(update={"cache": False}), max_new_tokens=cap)
    return ChatHuggingFace(llm=llm)


def _client_options() -> dict[str, Any]:
    """No retries inside the client: the graph's RetryPolicy retries (with backoff) and counts
    them; DRPO_TIMEOUT_S bounds one request (default 120 s)."""
    return {"max_retries": 0, "timeout": float(os.environ.get("DRPO_TIMEOUT_S", "120"))}


def is_openai(model: BaseChatModel) -> TypeGuard[ChatOpenAI]:
    """An OpenAI client model (``openai:`` and ``openai-compatible:`` chat): it takes generation
    parameters as fields, not call kwargs. langchain-openai loads only when such a model is
    built, and no model is one of its class before then (a second of import spared)."""
    module = sys.modules.get("langchain_openai")
    return module is not None and isinstance(model, module.ChatOpenAI)


def with_params(model: BaseChatModel, params: dict[str, Any]) -> BaseChatModel:
    """A copy of the model with per-call generation parameters (temperature, seed, max_tokens)."""
    fields = type(model).model_fields
    known = {k: v for k, v in params.items() if k in fields}
    if not known:
        return model
    copy = model.model_copy(update=known)
    # LangChain's cache key (llm_string) of serializable models comes from the cached property
    # ``_serialized``; a stale one copied from the original would hide the new parameters
    copy.__dict__.pop("_serialized", None)
    return copy
