"""Run configuration (recorded in the graph state) and the runtime Context (models, judge node)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

INITIAL_SYSTEM_PROMPT = "You are a helpful assistant."


class StageConfig(BaseModel):
    """Beam search hyper-parameters of one stage (paper Table 7): W, M, D."""

    model_config = ConfigDict(extra="forbid")
    W: int = Field(ge=1, strict=True, description="beam width")
    M: int = Field(ge=1, strict=True, description="action samples per state")
    D: int = Field(ge=1, strict=True, description="beam depth")


class IclStageConfig(StageConfig):
    W: int = Field(default=1, ge=1, strict=True)
    M: int = Field(default=1, ge=1, strict=True)
    D: int = Field(default=5, ge=1, strict=True)
    n: int | None = Field(
        default=None, ge=1, strict=True, description="optimize the first n base examples"
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
    W: int = Field(default=2, ge=1, strict=True)
    M: int = Field(default=3, ge=1, strict=True)
    D: int = Field(default=20, ge=1, strict=True)
    K: int = Field(default=2, ge=0, strict=True, description="ICL examples retrieved per query")
    B: int = Field(
        default=1, ge=1, strict=True, description="seed queries scored per level (paper: 1)"
    )
    seeds: int | None = Field(
        default=None, ge=1, strict=True, description="use the first N shuffled seeds"
    )
    shuffle_seed: int = Field(default=0, strict=True)
    initial_prompt: str = INITIAL_SYSTEM_PROMPT
    select: Literal["validation", "last-beam"] = Field(
        default="validation",
        description="P*: the best mean on held-out validation queries, or the top of the last "
        "beam (the paper)",
    )
    validation: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="validation queries (default: up to 8 of the seeds the levels leave)",
    )
    gate: Literal["significant", "none"] = Field(
        default="significant",
        description="validation: P* must beat the initial prompt significantly (paired, "
        "one-sided 5%), else the initial prompt stays; none: the highest mean wins",
    )
    reward: Literal["dynamic", "static"] | None = Field(
        default=None, description="this stage's reward (None: the run's `reward`)"
    )


class Sampling(BaseModel):
    """Generation parameters per role."""

    model_config = ConfigDict(extra="forbid")
    base_temperature: float = Field(default=0.0, ge=0, strict=True)
    optimizer_temperature: float = Field(default=0.7, ge=0, strict=True)
    judge_temperature: float = Field(default=0.0, ge=0, strict=True)
    # upstream's 2048 for answers; JSON replies hold a rewrite of up to 4000 characters plus
    # analysis and thought. A reply cut at its cap is re-sampled once with twice the cap.
    base_max_tokens: int = Field(default=2048, ge=16, strict=True)
    json_max_tokens: int = Field(default=2048, ge=64, strict=True)


class RunConfig(BaseModel):
    """Everything that defines a run's search; stored in the checkpointed state."""

    model_config = ConfigDict(extra="forbid")
    icl: IclStageConfig = Field(default_factory=IclStageConfig)
    system_prompt: PromptStageConfig = Field(default_factory=PromptStageConfig)
    reward: Literal["dynamic", "static"] = "dynamic"
    # stage-2 search (Table 4): beam; greedy = beam with W=1; mc = directionless one-step
    # sampling of as many prompts from s_0 as beam samples, each scored once (App. A.2)
    search: Literal["beam", "greedy", "mc"] = "beam"
    sampling: Sampling = Field(default_factory=Sampling)
    seed: int = Field(default=0, strict=True)
    icl_path: str | None = None
    seed_dir: str | None = None

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
    def _k_fits_pool(self) -> RunConfig:
        n = self.icl.n
        if n is not None and n < self.system_prompt.K:
            raise ValueError(f"K={self.system_prompt.K} is larger than the ICL pool ({n})")
        return self


@dataclass(kw_only=True)
class Context:
    """Runtime dependencies, swappable per run: a model spec per role and the judge node."""

    base_model: str = "local"
    optimizer_model: str = "local"
    judge_model: str = "local"
    selector_model: str = "local"
    judge_node: str = "dynamic"
    parse_retries: int = 5
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    index_cache_dir: str | None = None
    approve: bool = False  # human approval gate after each stage-2 level (review_best)
    # performance and budgets (drpo/budget.py, drpo/cache.py), applied by drpo.runner.execute:
    max_concurrency: int | None = None  # tasks (each one model call at a time) per superstep
    requests_per_second: float | None = None  # model calls per second, per role
    llm_cache: str | None = None  # SQLite file; None: RUN_DIR/llm_cache.sqlite; "off": none
    max_calls: int | None = None  # model calls of the whole run (cache hits are free)
    max_tokens: int | None = None  # input + output tokens of the whole run
    max_usd: float | None = None  # dollars of the whole run, a hard cap (drpo/prices.py)
    prices: dict[str, list[float]] = field(default_factory=dict)  # role -> [$/1M in, out]
    # structured output per JSON role (selector, optimizer, judge): auto | json_schema | tools |
    # json_object (drpo/models/methods.py); and the method each model spec was found to take
    structured: dict[str, str] = field(default_factory=dict)
    structured_used: dict[str, str] = field(default_factory=dict)

    def specs(self) -> dict[str, str]:
        """The model spec of each role."""
        return {
            "base": self.base_model,
            "optimizer": self.optimizer_model,
            "judge": self.judge_model,
            "selector": self.selector_model,
        }
