"""Usage per role (model calls, cache hits, tokens, micro-dollars), kept across processes."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, TextIO, cast

COUNTERS = ("calls", "cache_hits", "input_tokens", "output_tokens", "micro_usd")
USAGE_FILE = "usage.jsonl"


class Usage:
    """Counters per role. Each change is appended to a JSON-lines file (one small write, no
    rewrite), so the totals survive a kill and a resume; a torn last line is ignored."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.roles: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._whole: int | None = None  # bytes of whole lines, when the last line is torn
        if path is not None and path.exists():
            data = path.read_bytes()
            for entry in _entries(data.decode(errors="replace"), path):
                self._count(entry.pop("role"), entry)
            if data and not data.endswith(b"\n"):  # a crash mid-write: cut before appending
                self._whole = data.rfind(b"\n") + 1

    def _count(self, role: str, counts: dict[str, int]) -> None:
        row = self.roles.setdefault(role, dict.fromkeys(COUNTERS, 0))
        for key, value in counts.items():
            row[key] = row.get(key, 0) + value

    def add(self, role: str, **counts: int) -> None:
        with self._lock:
            self._count(role, counts)
            if self.path is not None:
                if self._file is None:
                    if self._whole is not None:
                        os.truncate(self.path, self._whole)
                        self._whole = None
                    self._file = self.path.open("a", encoding="utf-8", buffering=1)
                self._file.write(json.dumps({"role": role, **counts}) + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def total(self, counter: str) -> int:
        with self._lock:
            return sum(row.get(counter, 0) for row in self.roles.values())

    def describe(self) -> str:
        rows = self.as_dict()
        if not rows:
            return "none"
        return ", ".join(f"{r} {c['calls']} ({c['cache_hits']})" for r, c in rows.items())

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {role: dict(row) for role, row in sorted(self.roles.items())}


class UsageFileError(ValueError):
    """A usage file with a line that is not a usage record (other than a torn last line)."""


def _entries(text: str, path: Path) -> list[dict[str, Any]]:
    """The file's lines, parsed as one JSON array (one parse, not one per line); if that fails,
    line by line: a torn last line (a crash mid-write) is skipped, any other bad line is an
    error that names the file (its counts would be lost silently)."""
    lines = text.splitlines()
    try:
        entries = json.loads("[" + ",".join(lines) + "]")
        if all(_valid(e) for e in entries):
            return cast(list[dict[str, Any]], entries)
    except json.JSONDecodeError:
        pass
    out = []
    for n, line in enumerate(lines, 1):
        try:
            entry = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            entry = False
        if entry is None or (entry is False and n == len(lines) and not text.endswith("\n")):
            continue
        if not _valid(entry):
            raise UsageFileError(
                f"{path}: line {n} is not a usage record ({line[:60]!r}); the file is damaged: "
                "fix or delete that line (the run's call counts and budgets are read from it)"
            )
        out.append(entry)
    return out


def _valid(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("role"), str)
        and all(type(v) is int for k, v in entry.items() if k != "role")
    )


def read_usage(run_dir: Path) -> dict[str, dict[str, int]]:
    """A run's usage per role (empty before its first model call)."""
    return Usage(run_dir / USAGE_FILE).as_dict()


def model_calls(counts: dict[str, int]) -> int:
    """The model calls among per-role counts (hits of the shared store left out)."""
    return sum(n for k, n in counts.items() if not k.endswith("_cache_hits"))
