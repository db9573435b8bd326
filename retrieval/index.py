"""FAISS cosine index over ICL example queries, with disk cache and process memo."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss

from drpo.core.messages import ICLExample
from retrieval.embeddings import DEFAULT_EMBEDDING_MODEL, embed


def _normalise(examples: Sequence[ICLExample]) -> list[ICLExample]:
    return [ICLExample(query=e["query"], response=e["response"]) for e in examples]


def compute_pool_hash(examples: Sequence[ICLExample], model_id: str) -> str:
    """sha256 over the model id and the examples (JSON, sorted keys)."""
    payload = json.dumps(
        {"model_id": model_id, "examples": _normalise(examples)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write via a temp file in the same folder, then os.replace it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(eq=False)
class ICLIndex:
    """Example pool plus an inner-product FAISS index over its normalised query embeddings."""

    examples: list[ICLExample]
    model_id: str
    pool_hash: str
    index: faiss.Index

    @classmethod
    def build(
        cls,
        examples: Sequence[ICLExample],
        model_id: str = DEFAULT_EMBEDDING_MODEL,
        cache_dir: Path | None = None,
    ) -> ICLIndex:
        if not examples:
            raise ValueError("cannot build an ICL index from an empty example pool")
        pool = _normalise(examples)
        digest = compute_pool_hash(pool, model_id)
        if cache_dir is not None:
            cached = cls._load(Path(cache_dir), pool, model_id, digest)
            if cached is not None:
                return cached
        vectors = embed([e["query"] for e in pool], model_id)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        built = cls(pool, model_id, digest, index)
        if cache_dir is not None:
            built._save(Path(cache_dir))
        return built

    @classmethod
    def _load(
        cls, cache_dir: Path, pool: list[ICLExample], model_id: str, digest: str
    ) -> ICLIndex | None:
        index_path, meta_path = cache_dir / f"{digest}.faiss", cache_dir / f"{digest}.json"
        if not (index_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            index = faiss.read_index(str(index_path))
        except (OSError, ValueError, RuntimeError):
            return None  # unreadable/corrupt cache: rebuild
        ok = (
            meta.get("model_id") == model_id
            and meta.get("pool_hash") == digest
            and meta.get("examples") == pool
            and meta.get("count") == index.ntotal == len(pool)
            and meta.get("dim") == index.d
        )
        return cls(pool, model_id, digest, index) if ok else None

    def _save(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "model_id": self.model_id,
            "pool_hash": self.pool_hash,
            "dim": self.index.d,
            "count": self.index.ntotal,
            "examples": self.examples,
        }
        text = json.dumps(meta, ensure_ascii=False, indent=1)
        _atomic_write(
            cache_dir / f"{self.pool_hash}.faiss", lambda p: faiss.write_index(self.index, p)
        )
        _atomic_write(
            cache_dir / f"{self.pool_hash}.json", lambda p: Path(p).write_text(text, "utf-8")
        )

    def _check_k(self, k: int) -> None:
        if k < 0 or k > len(self.examples):
            raise ValueError(f"k={k} must be between 0 and the pool size {len(self.examples)}")

    def search(self, query: str, k: int, remember: bool = True) -> list[ICLExample]:
        """The k examples whose queries are most similar to `query`, best first."""
        return self.search_many([query], k, remember)[0]

    def search_many(
        self, queries: Sequence[str], k: int, remember: bool = True
    ) -> list[list[ICLExample]]:
        """Batched search: one embed call and one FAISS search for all queries (``remember``:
        whether their embeddings may be cached, retrieval/embeddings.py)."""
        self._check_k(k)
        if k == 0 or not queries:
            return [[] for _ in queries]
        _, ids = self.index.search(embed(queries, self.model_id, remember), k)
        return [[ICLExample(**self.examples[int(i)]) for i in row if i >= 0] for row in ids]


_memo: dict[tuple[str, str], ICLIndex] = {}
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_memo_lock = threading.Lock()


def get_index(
    examples: Sequence[ICLExample],
    model_id: str = DEFAULT_EMBEDDING_MODEL,
    cache_dir: Path | None = None,
) -> ICLIndex:
    """Process-level memo: each (model_id, pool_hash) is built once (thread-safe)."""
    key = (model_id, compute_pool_hash(examples, model_id))
    with _memo_lock:
        if key in _memo:
            return _memo[key]
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # per-pool lock: concurrent callers wait instead of building twice
        index = _memo.get(key)
        if index is None:
            index = ICLIndex.build(examples, model_id, cache_dir)
            with _memo_lock:
                _memo[key] = index
        return index


async def aretrieve(
    examples: Sequence[ICLExample],
    queries: Sequence[str],
    k: int,
    model_id: str = DEFAULT_EMBEDDING_MODEL,
    cache_dir: Path | None = None,
) -> list[list[ICLExample]]:
    """Async retrieval; embedding and search run in a worker thread."""

    def work() -> list[list[ICLExample]]:
        return get_index(examples, model_id, cache_dir).search_many(queries, k)

    return await asyncio.to_thread(work)
