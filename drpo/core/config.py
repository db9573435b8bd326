"""Run configuration: what defines a run's search, recorded in the graph state (the runtime
Context, its models and steps, is ``drpo.core.context``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drpo.core.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_B,
    MAX_COUNT,
    MAX_DEPTH,
    MAX_K,
    MAX_PROMPT_CHARS,
    MAX_TEMPERATURE,
    MAX_TOKENS_CAP,
    MAX_WIDTH,
)

INITIAL_SYSTEM_PROMPT = "You are a helpful assistant."


class StageConfig(BaseModel):
    """Beam search hyper-parameters of one stage (paper Table 7): W, M, D."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    W: int = Field(ge=1, le=MAX_WIDTH, strict=True, description="beam width")
    M: int = Field(ge=1, le=MAX_WIDTH, strict=True, description="action samples per state")
    D: int = Field(ge=1, le=MAX_DEPTH, strict=True, description="beam depth")


class IclStageConfig(StageConfig):
    W: int = Field(default=1, ge=1, le=MAX_WIDTH, strict=True)
    M: int = Field(default=1, ge=1, le=MAX_WIDTH, strict=True)
    D: int = Field(default=5, ge=1, le=MAX_DEPTH, strict=True)
    n: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        strict=True,
        description="optimize the first n base examples",
    )
    stop_at_max: bool = Field(
        default=True,
        strict=True,
        description="stop a track early when every aspect of its best scores 5",
    )
    reward: Literal["dynamic", "static"] | None = Field(
        default=None, description="this stage's reward (None: the run's `reward`)"
    )


class PromptStageConfig(StageConfig):
    W: int = Field(default=2, ge=1, le=MAX_WIDTH, strict=True)
    M: int = Field(default=3, ge=1, le=MAX_WIDTH, strict=True)
    D: int = Field(default=20, ge=1, le=MAX_DEPTH, strict=True)
    K: int = Field(
        default=2, ge=0, le=MAX_K, strict=True, description="ICL examples retrieved per query"
    )
    B: int = Field(
        default=1,
        ge=1,
        le=MAX_B,
        strict=True,
        description="seed queries scored per level (paper: 1)",
    )
    seeds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        strict=True,
        description="use the first N shuffled seeds",
    )
    shuffle_seed: int = Field(default=0, ge=INT64_MIN, le=INT64_MAX, strict=True)
    initial_prompt: str = Field(
        default=INITIAL_SYSTEM_PROMPT, max_length=MAX_PROMPT_CHARS, strict=True
    )
    select: Literal["race", "validation", "last-beam"] = Field(
        default="race",
        description="P*: the candidates race on held-out validation queries (the best third "
        "goes on, rung by rung) and the winner is confirmed sequentially on fresh ones (race); "
        "every candidate on every validation query and one fixed-size confirmation "
        "(validation); or the top of the last beam (last-beam, the paper)",
    )
    validation: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        strict=True,
        description="validation queries (default: up to 16 of the seeds the levels leave)",
    )
    confirm: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COUNT,
        strict=True,
        description="confirmation queries: the best validation prompt is tested against the "
        "initial one on this many fresh seeds (default: up to 48 of those left; 0: none, the "
        "gate tests on the validation queries)",
    )
    select_budget: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        strict=True,
        description="the most calls the selection (the race on validation queries) may make: "
        "it races on as many validation queries as that affords (default: no limit)",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DEPTH,
        strict=True,
        description="stop the search after N checks without a better prompt: every 2nd level's "
        "best against the best so far on 4 validation queries (nodes/check.py; default: off)",
    )
    gate: Literal["significant", "none"] = Field(
        default="significant",
        description="validation: P* must beat the initial prompt significantly (paired, "
        "one-sided 5%; on fresh confirmation queries), else the initial prompt stays; none: "
        "the highest validation mean wins",
    )
    reward: Literal["dynamic", "static"] | None = Field(
        default=None, description="this stage's reward (None: the run's `reward`)"
    )


class Sampling(BaseModel):
    """Generation parameters per role."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    base_temperature: float = Field(default=0.0, ge=0, le=MAX_TEMPERATURE, strict=True)
    optimizer_temperature: float = Field(default=0.7, ge=0, le=MAX_TEMPERATURE, strict=True)
    judge_temperature: float = Field(default=0.0, ge=0, le=MAX_TEMPERATURE, strict=True)
    # upstream's 2048 for answers; JSON replies hold a rewrite of up to 4000 characters plus
    # analysis and thought. A reply cut at its cap is re-sampled once with twice the cap.
    base_max_tokens: int = Field(default=2048, ge=16, le=MAX_TOKENS_CAP, strict=True)
    json_max_tokens: int = Field(default=2048, ge=64, le=MAX_TOKENS_CAP, strict=True)


class RunConfig(BaseModel):
    """Everything that defines a run's search; stored in the checkpointed state."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    icl: IclStageConfig = Field(default_factory=IclStageConfig)
    system_prompt: PromptStageConfig = Field(default_factory=PromptStageConfig)
    reward: Literal["dynamic", "static"] = "dynamic"
    # stage-2 search (Table 4): beam; greedy = beam with W=1; mc = directionless one-step
    # sampling of as many prompts from s_0 as beam samples, each scored once (App. A.2)
    search: Literal["beam", "greedy", "mc"] = "beam"
    sampling: Sampling = Field(default_factory=Sampling)
    seed: int = Field(default=0, ge=INT64_MIN, le=INT64_MAX, strict=True)
    icl_path: str | None = Field(default=None, min_length=1, strict=True)
    seed_dir: str | None = Field(default=None, min_length=1, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _greedy_is_width_one(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("search") == "greedy":
            sp = data.get("system_prompt")
            sp = dict(sp) if isinstance(sp, dict) else {}
            if sp.setdefault("W", 1) != 1:
                raise ValueError(f"greedy search is beam search with W=1, got W={sp['W']}")
            data = {**data, "system_prompt": sp}
        return data

    def with_overrides(
        self,
        system_prompt: dict[str, Any] | None = None,
        icl: dict[str, Any] | None = None,
        **top: Any,
    ) -> RunConfig:
        """This config with the given fields replaced (None: kept), validated again."""
        return RunConfig.model_validate(overridden(self.model_dump(), system_prompt, icl, **top))

    def search_stage(self) -> PromptStageConfig:
        """Stage-2 W, M, D as the search runs them: mc samples W*M*D prompts from s_0 at one
        level (App. A.2), each scored once."""
        sp = self.system_prompt
        if self.search != "mc":
            return sp
        return sp.model_copy(update={"M": sp.W * sp.M * sp.D, "D": 1})

    def stage_reward(self, stage: str) -> Literal["dynamic", "static"]:
        """The reward of a stage: its own switch, else the run's (Table 5 ablations)."""
        own = self.icl.reward if stage == "icl" else self.system_prompt.reward
        return own or self.reward

    @model_validator(mode="after")
    def _patience_checks_on_validation(self) -> RunConfig:
        sp = self.system_prompt
        if sp.patience is not None and sp.select == "last-beam":
            raise ValueError(
                "patience needs validation queries to check on: not with select=last-beam"
            )
        return self

    @model_validator(mode="after")
    def _k_fits_pool(self) -> RunConfig:
        n = self.icl.n
        if n is not None and n < self.system_prompt.K:
            raise ValueError(f"K={self.system_prompt.K} is larger than the ICL pool ({n})")
        return self


def overridden(
    data: dict[str, Any],
    system_prompt: dict[str, Any] | None = None,
    icl: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A raw config with fields replaced (None: kept): the one override path of `drpo optimize`'s
    flags, `drpo fork -W -M -D ...` and the inspector's fork (``RunConfig.with_overrides``)."""
    out = dict(data)
    for name, changes in (("system_prompt", system_prompt), ("icl", icl)):
        if changes:
            out[name] = {**(out.get(name) or {}), **_given(changes)}
    return {**out, **_given(top)}


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
