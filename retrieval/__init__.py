"""Retrieval of in-context-learning examples: FAISS over sentence-transformers embeddings,
or a retriever of the user's (``retrieval.retrievers``)."""

from retrieval.embeddings import DEFAULT_EMBEDDING_MODEL, embed, embedding_model_path, get_embedder
from retrieval.index import ICLIndex, aretrieve, get_index
from retrieval.retrievers import RETRIEVERS, Retriever, resolve_retriever

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "ICLIndex",
    "RETRIEVERS",
    "Retriever",
    "aretrieve",
    "embed",
    "embedding_model_path",
    "get_embedder",
    "get_index",
    "resolve_retriever",
]
