"""Input limits: every value a user gives is checked before a run exists (docs/usage.md,
"Limits"). Numbers are finite and in range, texts bounded, run ids safe in a path and a shell,
JSON inputs of bounded nesting; the resume hint is shell-quoted."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_WIDTH = 100  # W, M of either stage
MAX_DEPTH = 1000  # D of either stage
MAX_K = 100  # ICL examples retrieved per query
MAX_B = 1000  # seed queries scored per level
MAX_COUNT = 1_000_000  # --seeds, --icl, --validation, --confirm
MAX_TOKENS_CAP = 1_000_000  # sampling's max_tokens per call
MAX_TEMPERATURE = 2.0
MAX_CONCURRENCY = 10_000
MAX_RPS = 1_000_000.0
MAX_USD = 1e9
MAX_PRICE = 1e6  # dollars per million tokens
MAX_PROMPT_CHARS = 32 * 1024  # a system prompt: the initial one, a pack's
MAX_TEXT_CHARS = 16 * 1024  # each ICL query and response, each seed query
MAX_RUN_ID = 100
MAX_JSON_DEPTH = 32  # nesting of a JSON input (config, ICL and seed files, packs)
MAX_SPEC_CHARS = 2000
# no '.': a run id is a LangGraph store namespace label (level records, lineages, the seed plan),
# and the store refuses labels with periods
RUN_ID = re.compile(r"[A-Za-z0-9_-]+")


class LimitError(ValueError):
    """A value outside its documented limits."""


def check_run_id(run_id: str) -> str:
    """A new run's id: 1-100 letters, digits, ``-`` and ``_`` (no '.': a store label)."""
    if len(run_id) > MAX_RUN_ID:
        raise LimitError(f"run id too long ({len(run_id)} characters; at most {MAX_RUN_ID})")
    if not RUN_ID.fullmatch(run_id):
        raise LimitError(
            f"invalid run id {run_id!r}: use letters, digits, '-' and '_'"
        )
    return run_id


def check_number(name: str, value: float, low: float, high: float) -> None:
    """``low <= value <= high`` and finite (NaN and inf fail every comparison here)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise LimitError(f"{name} must be a finite number from {low:g} to {high:g}, got {value}")


def check_text(name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise LimitError(f"{name} is {len(text)} characters; at most {limit} are allowed")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped), found without
    parsing: json.loads of 100,000 nested arrays would raise RecursionError."""
    depth = deepest = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def loads_bounded(text: str, where: str) -> Any:
    """json.loads, refusing NaN/Infinity and nesting deeper than MAX_JSON_DEPTH."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise LimitError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except LimitError as exc:
        raise LimitError(f"{where}: {exc}") from None


def _no_constant(name: str) -> Any:
    raise LimitError(f"{name} is not a JSON number; use a finite number")


def check_writable_file(name: str, path: str) -> None:
    """A file the program will append to: its folder exists, and it is not a folder itself."""
    file = Path(path)
    if not path or file.is_dir():
        raise LimitError(f"{name}={path!r}: expected a file path")
    if not file.parent.is_dir():
        raise LimitError(f"{name}={path!r}: folder {str(file.parent)!r} does not exist")


def check_run_dir(run_dir: Path) -> None:
    """The run dir is a folder, or can become one (its first existing parent is a folder)."""
    for folder in (run_dir, *run_dir.absolute().parents):
        if folder.exists():
            if not folder.is_dir():
                raise LimitError(f"--run-dir {run_dir}: {folder} is not a directory")
            return


def resume_hint(run_id: str, run_dir: str | Path) -> str:
    """The command that resumes a run, quoted for a POSIX shell."""
    return f"drpo resume {shlex.quote(run_id)} --run-dir {shlex.quote(str(run_dir))}"


def check_limits(context: Any) -> None:
    """The numeric fields of a runtime Context (drpo/core/context.py) within their limits."""
    for name, high in (
        ("max_calls", INT64_MAX),
        ("max_tokens", INT64_MAX),
        ("max_concurrency", MAX_CONCURRENCY),
        ("parse_retries", 100),
    ):
        value = getattr(context, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise LimitError(f"{name} must be an integer, got {value!r}")
        if value is not None:
            check_number(name, value, 0 if name == "parse_retries" else 1, high)
    if (rps := context.requests_per_second) is not None:
        check_number("requests_per_second (--rps)", rps, 1e-6, MAX_RPS)
    if (usd := context.max_usd) is not None:
        check_number("max_usd (--max-usd)", usd, 1e-9, MAX_USD)
    for role, price in context.prices.items():
        if not (isinstance(price, list | tuple) and len(price) == 2):
            raise LimitError(f"prices.{role}: expected [IN, OUT], got {price!r}")
        for part in price:
            check_number(f"price of {role}", part, 0, MAX_PRICE)


def check_examples(examples: list[Any], where: str) -> None:
    """Each ICL query and response of an optimized set (--icl-from) within MAX_TEXT_CHARS."""
    for i, example in enumerate(examples):
        for key in ("query", "response"):
            check_text(f"{where}: example [{i}] {key}", str(example[key]), MAX_TEXT_CHARS)
