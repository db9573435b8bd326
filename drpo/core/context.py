"""The runtime Context: a run's models, swappable steps (judge node, retriever), limits and
budgets. Not part of the checkpointed state: a resume or a fork may change it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

ROLES = ("base", "optimizer", "judge", "selector")  # the model roles, as Context.specs lists them


def _about(text: str) -> dict[str, str]:
    return {"description": text}


@dataclass(kw_only=True)
class Context:
    """Runtime dependencies, swappable per run (and per fork): a model spec per role, the judge
    node, performance limits and budgets. ``langgraph dev`` shows these descriptions in the
    assistant's context schema; ``drpo optimize --help`` uses them for the matching flags."""

    base_model: str = field(
        default="local", metadata=_about("model spec of the base model that answers queries")
    )
    optimizer_model: str = field(
        default="local", metadata=_about("model spec of the optimizer that rewrites prompts")
    )
    judge_model: str = field(
        default="local", metadata=_about("model spec of the judge that scores each aspect 1-5")
    )
    selector_model: str = field(
        default="local",
        metadata=_about("model spec of the selector that picks each query's aspects"),
    )
    judge_node: str = field(
        default="dynamic",
        metadata=_about("the judge: dynamic | holistic | module:function (drpo/llm/judges.py)"),
    )
    parse_retries: int = field(
        default=5, metadata=_about("re-samples of a reply that does not parse, per call")
    )
    retriever: str = field(
        default="faiss",
        metadata=_about(
            "the ICL retriever: faiss (sentence-transformers + FAISS) | module:function "
            "(retrieval/retrievers.py)"
        ),
    )
    embedding_model: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata=_about("sentence-transformers model for ICL retrieval"),
    )
    index_cache_dir: str | None = field(
        default=None, metadata=_about("folder for the FAISS index cache (default: none)")
    )
    approve: bool = field(
        default=False,
        metadata=_about("ask a human to approve each stage-2 level's best prompt (review_best)"),
    )
    # performance and budgets (drpo/llm/session.py, drpo/runtime/cache.py)
    max_concurrency: int | None = field(
        default=None, metadata=_about("at most N model calls in flight (tasks per superstep)")
    )
    requests_per_second: float | None = field(
        default=None, metadata=_about("at most R model calls per second per role")
    )
    llm_cache: str | None = field(
        default=None,
        metadata=_about(
            "SQLite file of the LLM-call cache (default RUN_DIR/llm_cache.sqlite), or 'off' "
            "(e.g. to set a damaged cache aside; the run remembers it)"
        ),
    )
    max_calls: int | None = field(
        default=None,
        metadata=_about("stop once the run has made N model calls; cache hits are free"),
    )
    max_tokens: int | None = field(
        default=None, metadata=_about("stop once the run has used N tokens (resumable)")
    )
    max_usd: float | None = field(
        default=None,
        metadata=_about("hard cap in dollars: stop before a call that could pass it (resumable)"),
    )
    prices: dict[str, list[float]] = field(
        default_factory=dict,
        metadata=_about("dollars per million input/output tokens per role: role -> [in, out]"),
    )
    structured: dict[str, str] = field(
        default_factory=dict,
        metadata=_about(
            "how a JSON role (selector, optimizer, judge) asks for JSON: auto | json_schema | "
            "tools | json_object (drpo/llm/backends/methods.py)"
        ),
    )
    structured_used: dict[str, str] = field(
        default_factory=dict,
        metadata=_about("the structured-output method each model spec was found to take"),
    )

    def specs(self) -> dict[str, str]:
        """The model spec of each role."""
        return {role: getattr(self, f"{role}_model") for role in ROLES}


def described(name: str) -> str:
    """The description of a Context field (the help of its command-line flag)."""
    return str(next(f for f in fields(Context) if f.name == name).metadata["description"])
