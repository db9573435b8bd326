"""Parse a just-eval judge reply into one score per aspect.

Replies are JSON `{aspect: {"reason": ..., "score": "4"}}`, often fenced or wrapped in chatter.
Scores may be strings, numbers, "4.5" or "4/5"; "N/A" counts as 5.0 (the benchmark's rule).
A missing aspect or a score outside 1..5 is a parse failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.exceptions import OutputParserException

from drpo.llm.replies import extract_json

NA_SCORE = 5.0
_NA = {"n/a", "na", "n.a.", "none", "not applicable"}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*5(?:\.0)?)?\s*$")


class JudgeParseError(ValueError):
    """A judge reply without a valid score for every aspect."""


def parse_score(value: Any) -> float:
    if isinstance(value, bool):
        raise JudgeParseError(f"score is not a number: {value!r}")
    if isinstance(value, int | float):
        score = float(value)
    elif isinstance(value, str):
        text = value.strip().strip("[]").strip()
        if text.lower() in _NA:
            return NA_SCORE
        match = _NUMBER.match(text)
        if not match:
            raise JudgeParseError(f"score is not a number: {value!r}")
        score = float(match.group(1))
    else:
        raise JudgeParseError(f"score is not a number: {value!r}")
    if not 1.0 <= score <= 5.0:
        raise JudgeParseError(f"score {score} is outside 1..5")
    return score


def _fallback(text: str, aspect: str) -> Any:
    """A score by pattern when the JSON is broken (e.g. an unescaped quote in a reason)."""
    pattern = rf'"{re.escape(aspect)}"\s*:\s*\{{.*?"score"\s*:\s*"?([^",}}\n]+)"?'
    match = re.search(pattern, text, re.S | re.I)
    if not match:
        raise JudgeParseError(f"judge reply lacks aspect {aspect!r}")
    return match.group(1)


def parse_judge_reply(text: str, aspects: Sequence[str]) -> dict[str, float]:
    """One score per aspect (lower-case names), or JudgeParseError."""
    try:
        data = extract_json(text)
    except OutputParserException:
        data = None
    scores: dict[str, float] = {}
    lowered = (
        {str(k).strip().lower(): v for k, v in data.items()} if isinstance(data, dict) else None
    )
    for aspect in aspects:
        if lowered is None:
            value = _fallback(text, aspect)
        else:
            entry = lowered.get(aspect.lower())
            if entry is None:
                raise JudgeParseError(f"judge reply lacks aspect {aspect!r}")
            value = entry.get("score") if isinstance(entry, dict) else entry
            if value is None:
                raise JudgeParseError(f"aspect {aspect!r} has no score")
        scores[aspect] = parse_score(value)
    return scores
