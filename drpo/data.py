"""Loaders of the vendored DRPO data (data/drpo, see data/NOTICE) with clear errors on bad input."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from drpo.prompting import ICLExample

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "drpo"


class DataError(ValueError):
    """A user's data file is missing or malformed."""


def _load_json(path: Path) -> Any:
    """A JSON file, or a JSON-lines file (``.jsonl``: one value per line) as a list."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from exc
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def strip_markers(response: str) -> str:
    """Base ICL responses are wrapped in <START> ... <END>; drop the markers."""
    text = response.strip()
    if text.startswith("<START>"):
        text = text[len("<START>") :]
    if text.endswith("<END>"):
        text = text[: -len("<END>")]
    return text.strip()


def load_icl(path: str | Path | None = None) -> list[ICLExample]:
    """ICL examples from ``{query: response}`` or ``[{"query", "response"}]`` JSON, or JSON
    lines (``.jsonl``) of ``{"query", "response"}``."""
    file = Path(path) if path else DATA_DIR / "icl_base.json"
    raw = _load_json(file)
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        if not all(isinstance(r, dict) and {"query", "response"} <= r.keys() for r in raw):
            raise DataError(f"{file}: every item needs 'query' and 'response'")
        pairs = [(r["query"], r["response"]) for r in raw]
    else:
        raise DataError(f"{file}: expected an object or a list of examples")
    examples: list[ICLExample] = []
    for query, response in pairs:
        if not isinstance(query, str) or not isinstance(response, str) or not query.strip():
            raise DataError(f"{file}: queries and responses must be non-empty strings")
        examples.append({"query": query.strip(), "response": strip_markers(response)})
    if not examples:
        raise DataError(f"{file}: no ICL examples")
    queries = [e["query"] for e in examples]
    if len(set(queries)) != len(queries):
        raise DataError(f"{file}: duplicate queries")
    return examples


def load_seeds(seed_dir: str | Path | None = None) -> list[str]:
    """The 180 seed queries X: 86 alpaca + 52 lima + 42 red-team, in file order."""
    folder = Path(seed_dir) if seed_dir else DATA_DIR
    alpaca = _load_json(folder / "seed_alpaca.json")
    lima = _load_json(folder / "seed_lima.json")
    try:
        redteam = (folder / "seed_redteam.txt").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataError(f"{folder / 'seed_redteam.txt'}: file not found") from exc
    queries: list[str] = []
    for name, rows, key in (
        ("seed_alpaca.json", alpaca, "instruction"),
        ("seed_lima.json", lima, "query"),
    ):
        if not isinstance(rows, list) or not all(isinstance(r, dict) and key in r for r in rows):
            raise DataError(f"{folder / name}: expected a list of objects with {key!r}")
        queries += [str(r[key]).strip() for r in rows]
    queries += [line.strip() for line in redteam if line.strip()]
    queries = list(dict.fromkeys(q for q in queries if q))
    if not queries:
        raise DataError(f"{folder}: no seed queries")
    return queries


def shuffled(queries: list[str], seed: int, limit: int | None) -> list[str]:
    order = list(queries)
    random.Random(seed).shuffle(order)
    return order[:limit] if limit else order


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
