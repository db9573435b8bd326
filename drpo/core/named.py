"""Swappable steps by configuration: a built-in name, or an import path ``module:function``
(the judge, ``drpo.llm.judges``; the ICL retriever, ``retrieval.retrievers``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def resolve_named(kind: str, name: str, builtins: Mapping[str, T]) -> T:
    """The built-in called ``name``, else the callable that ``module:function`` names."""
    if name in builtins:
        return builtins[name]
    module, sep, attr = name.partition(":")
    if not sep:
        raise ValueError(f"unknown {kind} {name!r}: use {' | '.join(builtins)} or module:function")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {kind} {name!r}: {exc}") from exc
    if not callable(fn):
        raise ValueError(f"{kind} {name!r} is not callable")
    return fn
