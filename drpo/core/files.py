"""Small, safe file writes: a unique temp file in the target's folder, then an atomic rename
(or an exclusive link, for a file that must not exist yet). The temp file is always removed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temp(path: Path, text: str) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``; readers see the old or the new file, never a part."""
    tmp = _temp(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def create_exclusive(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, atomically; FileExistsError if it exists (one process of
    several racing ones wins)."""
    tmp = _temp(path, text)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
