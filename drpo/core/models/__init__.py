"""Model specs -> LangChain chat models, one loaded instance per spec per process."""

from drpo.core.models.registry import ModelSpec, get_chat_model, parse_spec, spec_of

__all__ = ["ModelSpec", "get_chat_model", "parse_spec", "spec_of"]
