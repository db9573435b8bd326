"""Reply schemas of the three JSON-producing LLM calls, with validation (App. E)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from drpo.core.aspects import ASPECTS, canonical

Note = Annotated[str, Field(max_length=300)]


class QueryAnalysis(BaseModel):
    main_topic: Note
    user_intent: Note
    ambiguities: Note
    response_format: Note
    challenges: Note


class NewAspect(BaseModel):
    name: str = Field(min_length=2, max_length=32)
    description: str = Field(min_length=10, max_length=300)


# One optional flag per predefined aspect: an object cannot name an aspect twice, which a
# grammar-constrained small model otherwise does ("Safety", "Safety", ...).
AspectFlags = create_model(  # type: ignore[call-overload]
    "AspectFlags",
    __config__=ConfigDict(extra="forbid", populate_by_name=True),
    **{name.replace("-", "_"): (bool | None, Field(default=None, alias=name)) for name in ASPECTS},
)


def _valid(model: type[BaseModel], data: Any) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


class SelectionBody(BaseModel):
    reasoning: str = Field(max_length=600)
    selected_aspects: AspectFlags  # type: ignore[valid-type]
    new_aspects: list[NewAspect] = Field(default_factory=list, max_length=3)

    @field_validator("new_aspects", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        """Drop proposals without a word for a name ("...", "1."), which small models write,
        and proposals outside the bounds (a sentence for a name, an empty description: the
        bounds are not in the schemas sent to servers); the 2-5 rule then applies to what is
        left (a pattern in the grammar crawls)."""
        if not isinstance(value, list):
            return value
        return [
            a
            for a in value
            if not isinstance(a, dict)
            or (re.search(r"[A-Za-z]{2}", str(a.get("name", ""))) and _valid(NewAspect, a))
        ]

    def names(self) -> list[str]:
        flags = self.selected_aspects.model_dump(by_alias=True)  # type: ignore[attr-defined]
        return [name for name in ASPECTS if flags.get(name)]


class AspectSelectionReply(BaseModel):
    """Reward selection (App. E.1.2): 2–5 aspects from R, possibly new ones with descriptions."""

    query_analysis: QueryAnalysis
    aspects_selection: SelectionBody

    @field_validator("aspects_selection", mode="before")
    @classmethod
    def _canonical_names(cls, value: Any) -> Any:
        """Accept the paper's list form too: ["Helpfulness", ...] -> {"Helpfulness": true}."""
        if not isinstance(value, dict):
            return value
        chosen = value.get("selected_aspects")
        if isinstance(chosen, list):
            chosen = {str(n): True for n in chosen}
        if isinstance(chosen, dict):
            chosen = {canonical(str(k)) or str(k): v for k, v in chosen.items()}
            value = {**value, "selected_aspects": chosen}
        return value

    @model_validator(mode="after")
    def _two_to_five(self) -> AspectSelectionReply:
        total = len(self.aspects())
        if not 2 <= total <= 5:
            raise ValueError(f"select 2 to 5 aspects in all, got {total}")
        return self

    def aspects(self) -> dict[str, str]:
        """name -> description of every chosen aspect (predefined first, then proposed)."""
        chosen = {name: ASPECTS[name] for name in self.aspects_selection.names()}
        for new in self.aspects_selection.new_aspects:
            name = canonical(new.name) or new.name.strip()
            chosen.setdefault(name, ASPECTS.get(name, new.description))
        return chosen


class AspectScore(BaseModel):
    rationale: str
    score: float = Field(ge=1, le=5)

    @field_validator("score", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic would read true as 1.0: a silent score
            raise ValueError(f"a score must be a number, got {value!r}")
        if isinstance(value, str):
            return float(value.strip().split("/")[0])
        return value


def judge_schema(
    aspects: Sequence[str], reason: str = "rationale", reason_max: int = 400
) -> dict[str, Any]:
    """JSON schema of the judge reply for the selected aspects (App. E.1.1 eval dict):
    per aspect a ``reason`` string and an integer score 1-5."""
    item = {
        "type": "object",
        "properties": {
            reason: {"type": "string", "maxLength": reason_max},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "required": [reason, "score"],
        "additionalProperties": False,
    }
    return {
        "title": "JudgeReply",
        "type": "object",
        "properties": {name: item for name in aspects},
        "required": list(aspects),
        "additionalProperties": False,
    }


def validate_judge_reply(data: dict[str, Any], aspects: list[str]) -> dict[str, AspectScore]:
    """Scores for exactly the selected aspects; a missing aspect or a bad score is an error."""
    lowered: dict[str, Any] = {}
    twice: set[str] = set()  # "Clarity" and "clarity" with two different scores
    for key, value in data.items():
        name = str(key).strip().lower()
        if name in lowered and lowered[name] != value:
            twice.add(name)
        lowered[name] = value
    scores: dict[str, AspectScore] = {}
    for name in aspects:
        value = lowered.get(name.lower())
        if not isinstance(value, dict):
            raise ValueError(f"judge reply lacks aspect {name!r}")
        try:
            scores[name] = AspectScore.model_validate(value)
        except (ValidationError, ValueError) as exc:
            raise ValueError(f"judge reply has a bad score for {name!r}: {exc}") from exc
        if name.lower() in twice:
            raise ValueError(f"judge reply scores aspect {name!r} twice")
    return scores


class PromptTransitionReply(BaseModel):
    """State transition for the system prompt (App. E.2)."""

    analysis: str = Field(max_length=1500)
    thought: str = Field(max_length=1500)
    new_system_prompt: str = Field(min_length=20, max_length=4000)


class ResponseTransitionReply(BaseModel):
    """State transition for an ICL response (Alg. 1)."""

    analysis: str = Field(max_length=1500)
    thought: str = Field(max_length=1500)
    new_response: str = Field(min_length=20, max_length=4000)


class ApprovalAnswer(BaseModel):
    """A reviewer's answer to a pending approval."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "edit", "reject"]
    text: str | None = None

    @model_validator(mode="after")
    def _edit_has_text(self) -> ApprovalAnswer:
        if self.action == "edit" and not (self.text or "").strip():
            raise ValueError("an edit needs the new prompt text")
        return self
