"""Embedding-based retrieval of in-context-learning examples (FAISS)."""

from retrieval.embeddings import DEFAULT_EMBEDDING_MODEL, embed, embedding_model_path, get_embedder
from retrieval.index import ICLIndex, aretrieve, get_index

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "ICLIndex",
    "aretrieve",
    "embed",
    "embedding_model_path",
    "get_embedder",
    "get_index",
]
