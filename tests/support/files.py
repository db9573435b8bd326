"""A digest of a folder: every file's sha256, to show that a command changed nothing on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_digest(root: Path, folders: bool = False, skip: str | None = None) -> dict[str, str]:
    """Every file under ``root`` (names relative to it) with the sha256 of its bytes; with
    ``folders``, every folder too (as ""); files whose name ends with ``skip`` left out."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
        if (folders or p.is_file()) and not (skip and p.name.endswith(skip))
    }
