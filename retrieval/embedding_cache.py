"""A persistent cache of sentence embeddings, so a process whose texts were all embedded before
(a resume, a fork, another run on the same seed queries) never loads torch or the model.

An embedding is a pure function of the model and the text: rows are keyed by
sha256(model identity, text) and hold raw float32 bytes (no pickle). The model identity is the
model id plus the bundled package's version, or, for a local model folder, its files' sizes and
modification times, so a changed model never reads another's vectors. One SQLite file shared by
processes (WAL); ``DRPO_EMBEDDING_CACHE`` names it, ``off`` turns the cache off; the default is
``$XDG_CACHE_HOME/drpo/embeddings.sqlite`` (``~/.cache/...``). A cache that cannot be opened or
written is skipped: it only ever saves work.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ENV = "DRPO_EMBEDDING_CACHE"
_SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)"
_MAX_DIM = 65_536


def cache_path() -> Path | None:
    """The cache file this process uses (None when turned off)."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drpo" / "embeddings.sqlite"


def folder_identity(folder: Path) -> str:
    """Names, sizes and modification times of a model folder's files, digested."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        h.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


class EmbeddingCache:
    """Rows of (model identity, text) -> float32 vector in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            db.commit()
            self._db = db
        return self._db

    @staticmethod
    def key(identity: str, text: str) -> str:
        return hashlib.sha256(f"{identity}\0{text}".encode()).hexdigest()

    def get_many(self, identity: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Each text's cached vector, or None; a row of the wrong size counts as missing."""
        keys = [self.key(identity, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        try:
            with self._lock:
                db = self._connect()
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = db.execute(
                        f"SELECT key, dim, data FROM vectors WHERE key IN ({marks})", chunk
                    ).fetchall()
                    for key, dim, data in rows:
                        vector = _vector(dim, data)
                        if vector is not None:
                            found[key] = vector
        except (OSError, sqlite3.Error):
            return [None] * len(texts)
        return [found.get(k) for k in keys]

    def put_many(self, identity: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (self.key(identity, t), int(v.shape[0]), np.asarray(v, dtype="<f4").tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        try:
            with self._lock:
                db = self._connect()
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
                db.commit()
        except (OSError, sqlite3.Error):
            return


def _vector(dim: object, data: object) -> np.ndarray | None:
    if not (isinstance(dim, int) and 0 < dim <= _MAX_DIM and isinstance(data, bytes)):
        return None
    if len(data) != 4 * dim:
        return None
    vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
    return vector if bool(np.isfinite(vector).all()) else None


_caches: dict[Path, EmbeddingCache] = {}
_caches_lock = threading.Lock()


def shared_cache() -> EmbeddingCache | None:
    """This process's cache for the configured path (None when off)."""
    path = cache_path()
    if path is None:
        return None
    with _caches_lock:
        return _caches.setdefault(path, EmbeddingCache(path))
