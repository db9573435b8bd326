"""Loaders of the vendored DRPO data (drpo/core/resources/drpo, see drpo/core/resources/NOTICE) with
clear errors on bad input."""

from __future__ import annotations

import hashlib
import json
import random
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from drpo.core.limits import MAX_TEXT_CHARS, LimitError, check_text, loads_bounded
from drpo.core.messages import ICLExample

RESOURCES = Path(str(files("drpo.core.resources")))  # vendored data (NOTICE), a package resource
DATA_DIR = RESOURCES / "drpo"


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
                    rows.append(loads_bounded(line, f"{path}: line {number}"))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from exc
                except LimitError as exc:
                    raise DataError(str(exc)) from None
        return rows
    try:
        return loads_bounded(text, str(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except LimitError as exc:
        raise DataError(str(exc)) from None


def strip_markers(response: str) -> str:
    """Base ICL responses are wrapped in <START> ... <END>; drop the markers."""
    text = response.strip()
    if text.startswith("<START>"):
        text = text[len("<START>") :]
    if text.endswith("<END>"):
        text = text[: -len("<END>")]
    return text.strip()


# each ICL query and response and each seed query: at most MAX_TEXT_CHARS (16 KiB) characters
Text = Annotated[str, Field(strict=True, max_length=MAX_TEXT_CHARS)]
NonEmpty = Annotated[
    str,
    Field(strict=True),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS),
]


class IclEntry(BaseModel):
    """One ICL example; other keys of an entry are ignored."""

    query: NonEmpty
    response: Text


class AlpacaSeed(BaseModel):
    instruction: NonEmpty


class LimaSeed(BaseModel):
    query: NonEmpty


M = TypeVar("M", bound=BaseModel)


def _entries(file: Path, rows: Any, model: type[M]) -> list[M]:
    """Validate every entry; the first bad one is an error naming the file and its index."""
    if not isinstance(rows, list):
        raise DataError(f"{file}: expected a list of {model.__name__} objects")
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            got = type(row.get(field) if isinstance(row, dict) else row).__name__
            wrong_type = str(err["type"]).endswith("_type")
            got = f" (got {got.replace('NoneType', 'null')})" if wrong_type else ""
            where = f"{field!r}: " if field else ""
            raise DataError(f"{file}: entry [{i}]: {where}{err['msg']}{got}") from None
    return out


def load_icl(path: str | Path | None = None) -> list[ICLExample]:
    """ICL examples from ``{query: response}`` or ``[{"query", "response"}]`` JSON, or JSON
    lines (``.jsonl``) of ``{"query", "response"}``."""
    file = Path(path) if path else DATA_DIR / "icl_base.json"
    raw = _load_json(file)
    if isinstance(raw, dict):
        raw = [{"query": q, "response": r} for q, r in raw.items()]
    elif not isinstance(raw, list):
        raise DataError(f"{file}: expected an object or a list of examples")
    examples: list[ICLExample] = [
        {"query": e.query, "response": strip_markers(e.response)}
        for e in _entries(file, raw, IclEntry)
    ]
    if not examples:
        raise DataError(f"{file}: no ICL examples")
    queries = [e["query"] for e in examples]
    if len(set(queries)) != len(queries):
        raise DataError(f"{file}: duplicate queries")
    return examples


def load_seeds(seed_dir: str | Path | None = None) -> list[str]:
    """The 180 seed queries X: 86 alpaca + 52 lima + 42 red-team, in file order."""
    folder = Path(seed_dir) if seed_dir else DATA_DIR
    alpaca = _entries(
        folder / "seed_alpaca.json", _load_json(folder / "seed_alpaca.json"), AlpacaSeed
    )
    lima = _entries(folder / "seed_lima.json", _load_json(folder / "seed_lima.json"), LimaSeed)
    try:
        redteam = (folder / "seed_redteam.txt").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataError(f"{folder / 'seed_redteam.txt'}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{folder / 'seed_redteam.txt'}: cannot read ({exc})") from exc
    queries = [a.instruction for a in alpaca] + [q.query for q in lima]
    for number, line in enumerate(redteam, 1):
        try:
            check_text("seed query", line.strip(), MAX_TEXT_CHARS)
        except LimitError as exc:
            raise DataError(f"{folder / 'seed_redteam.txt'}: line {number}: {exc}") from None
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
