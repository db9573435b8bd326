"""No silent self-grading: an evaluation judged by a model that also judged the optimization
grades the prompt by the taste it was tuned to. `drpo eval` and `drpo reproduce` refuse it unless
``--allow-self-judge`` is given, and every report names both judges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drpo.llm.backends.specs import SpecError, parse_spec


def model_key(spec: str) -> tuple[str, ...]:
    """What names the model of a spec: provider, model and server. Options are request fields
    (temperature, ...) or test hooks (fake's log, latency), not another model; a simulated
    world is its own judge."""
    try:
        s = parse_spec(spec)
    except SpecError:
        return ("?", spec.strip())
    world = s.options.get("world", "") if s.provider == "sim" else ""
    return (s.provider, s.model, (s.base_url or "").rstrip("/"), world)


def same_model(a: str, b: str) -> bool:
    """Two specs of one model (``local`` and ``local:smollm2``, ``fake`` and ``fake:log=x``)."""
    return model_key(a) == model_key(b)


def optimizing_judges(pack: Mapping[str, Any]) -> list[str]:
    """Every judge spec that scored a pack's optimization, in order (a resume or fork may have
    switched judges)."""
    history = (pack.get("model_history") or {}).get("judge") or []
    judges = [str(row["model"]) for row in history if isinstance(row, Mapping) and "model" in row]
    current = (pack.get("models") or {}).get("judge")
    if current and not any(same_model(current, j) for j in judges):
        judges.append(str(current))
    return judges


def self_judge_error(optimizing: Iterable[str], eval_judge: str, allow: bool) -> str | None:
    """The one-line refusal when ``eval_judge`` also judged the optimization (None if fine)."""
    if allow:
        return None
    for judge in optimizing:
        if same_model(judge, eval_judge):
            return (
                f"the eval judge {eval_judge!r} also judged the optimization ({judge!r}): a report "
                "it grades is self-graded; pick another --judge, or pass --allow-self-judge"
            )
    return None


def judges_block(
    eval_judge: str, packs: Mapping[str, Mapping[str, Any]], allowed: bool
) -> dict[str, Any]:
    """What result.json records: the eval judge, each pack's optimizing judges (by method) and
    whether a pack was graded by one of its own judges (only with ``--allow-self-judge``)."""
    optimizing = {name: optimizing_judges(pack) for name, pack in packs.items()}
    graded = sorted(
        name for name, js in optimizing.items() if any(same_model(j, eval_judge) for j in js)
    )
    return {
        "eval": eval_judge,
        "optimizing": optimizing,
        "self_graded": graded,
        "allow_self_judge": allowed,
    }
