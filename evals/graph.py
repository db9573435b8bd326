"""The evaluation as a LangGraph graph with a persistent per-task cache.

prepare_prompts (ICL retrieval per method) -> answer_item (a Send per method x item, the base model
through drpo.core.messages.build_messages) -> collect_answers -> judge_item (a Send per answer, the
judge model with the benchmark's template). answer_item and judge_item carry a CachePolicy whose key
is exactly what the model sees (spec, messages, sampling), stored in a SqliteCache: each finished
task is saved as it finishes, so a killed evaluation run again redoes only the unfinished tasks, and
answers are shared by evaluations that differ only in the judge.
"""

from __future__ import annotations

import asyncio
import json
import operator
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import CachePolicy, Send
from typing_extensions import TypedDict

from drpo.core.messages import ICLExample, build_messages
from drpo.llm.backends.registry import get_chat_model
from drpo.llm.calls import call_text
from evals.benchmark import Item
from evals.judge import JudgeResult, judge_answer
from evals.methods import Method
from graph.policies import LLM_RETRY
from retrieval import aretrieve

CACHE_VERSION = "evals/1"


@dataclass(kw_only=True)
class EvalContext:
    parse_retries: int = 3
    index_cache_dir: str | None = None
    # model calls in flight. Not the graph's max_concurrency: that semaphore also gates the
    # cache writes, which would then wait behind queued tasks instead of landing at once
    slots: asyncio.Semaphore | None = None


def _slot(runtime: Runtime[EvalContext]) -> AbstractAsyncContextManager[Any]:
    return runtime.context.slots or nullcontext()


class AnswerTask(TypedDict):
    method: str
    item: Item
    model: str
    system_prompt: str
    icl: list[ICLExample]
    temperature: float
    max_tokens: int


class Answer(TypedDict):
    method: str
    item: Item
    model: str
    output: str
    icl_queries: list[str]


class ReportJudgeTask(TypedDict):
    method: str
    item: Item
    output: str
    model: str
    max_tokens: int
    repeat: int


class Settings(TypedDict):
    base_model: str
    judge_model: str
    base_max_tokens: int
    judge_max_tokens: int


class EvalState(TypedDict, total=False):
    methods: list[Method]
    items: list[Item]
    settings: Settings
    prompts: list[AnswerTask]
    answers: Annotated[list[Answer], operator.add]
    judge_tasks: list[ReportJudgeTask]
    verdicts: Annotated[list[JudgeResult], operator.add]


def cache_key(task: Any) -> str:
    """The task as canonical JSON (no pickle); the cache hashes it."""
    return json.dumps([CACHE_VERSION, task], sort_keys=True, ensure_ascii=False)


async def prepare_prompts(state: EvalState, runtime: Runtime[EvalContext]) -> dict[str, Any]:
    settings, items = state["settings"], state["items"]
    cache = runtime.context.index_cache_dir
    prompts: list[AnswerTask] = []
    for method in state["methods"]:
        queries = [i["instruction"] for i in items]
        if method["fixed"]:
            icl = [list(method["fixed"]) for _ in items]
        elif method["K"] > 0:
            icl = await aretrieve(
                method["pool"],
                queries,
                method["K"],
                method["embedding_model"],
                Path(cache) if cache else None,
            )
        else:
            icl = [[] for _ in items]
        prompts += [
            AnswerTask(
                method=method["name"],
                item=item,
                model=settings["base_model"],
                system_prompt=method["system_prompt"],
                icl=examples,
                temperature=0.0,
                max_tokens=settings["base_max_tokens"],
            )
            for item, examples in zip(items, icl, strict=True)
        ]
    return {"prompts": prompts}


def send_answers(state: EvalState) -> list[Send]:
    return [Send("answer_item", task) for task in state["prompts"]]


async def answer_item(task: AnswerTask, runtime: Runtime[EvalContext]) -> dict[str, Any]:
    messages = build_messages(task["system_prompt"], task["icl"], task["item"]["instruction"])
    async with _slot(runtime):
        output = await call_text(
            get_chat_model(task["model"]),
            messages,
            temperature=task["temperature"],
            max_tokens=task["max_tokens"],
            check=False,  # answers are capped on purpose; a cut answer is scored as it is
        )
    answer = Answer(
        method=task["method"],
        item=task["item"],
        model=task["model"],
        output=output.strip(),
        icl_queries=[e["query"] for e in task["icl"]],
    )
    return {"answers": [answer]}


async def collect_answers(state: EvalState) -> dict[str, Any]:
    settings = state["settings"]
    order = {(a["method"], a["item"]["id"]): a for a in state.get("answers", [])}
    tasks = [
        ReportJudgeTask(
            method=a["method"],
            item=a["item"],
            output=a["output"],
            model=settings["judge_model"],
            max_tokens=settings["judge_max_tokens"],
            repeat=0,
        )
        for _, a in sorted(order.items())
    ]
    return {"judge_tasks": tasks}


def send_judgings(state: EvalState) -> list[Send]:
    return [Send("judge_item", task) for task in state["judge_tasks"]]


async def judge_item(task: ReportJudgeTask, runtime: Runtime[EvalContext]) -> dict[str, Any]:
    async with _slot(runtime):
        result = await judge_answer(
            get_chat_model(task["model"]),
            task["item"],
            task["output"],
            retries=runtime.context.parse_retries,
            max_tokens=task["max_tokens"],
        )
    result["method"], result["repeat"] = task["method"], task["repeat"]
    return {"verdicts": [result]}


CACHED = CachePolicy(key_func=cache_key)


def build_eval_graph() -> StateGraph[EvalState, EvalContext, EvalState, EvalState]:
    g = StateGraph(EvalState, context_schema=EvalContext)
    g.add_node("prepare_prompts", prepare_prompts)
    g.add_node("answer_item", answer_item, retry_policy=LLM_RETRY, cache_policy=CACHED)  # type: ignore[call-overload, arg-type, unused-ignore]  # Send payload
    g.add_node("collect_answers", collect_answers)
    g.add_node("judge_item", judge_item, retry_policy=LLM_RETRY, cache_policy=CACHED)  # type: ignore[arg-type]  # Send task payload
    g.add_edge(START, "prepare_prompts")
    g.add_conditional_edges("prepare_prompts", send_answers, ["answer_item"])
    g.add_edge("answer_item", "collect_answers")
    g.add_conditional_edges("collect_answers", send_judgings, ["judge_item"])
    g.add_edge("judge_item", END)
    return g


def build_judge_graph() -> StateGraph[EvalState, EvalContext, EvalState, EvalState]:
    """Judging only (judge-check): the input's judge_tasks, each a cached Send."""
    g = StateGraph(EvalState, context_schema=EvalContext)
    g.add_node("judge_item", judge_item, retry_policy=LLM_RETRY, cache_policy=CACHED)  # type: ignore[arg-type]  # Send task payload
    g.add_conditional_edges(START, send_judgings, ["judge_item"])
    g.add_edge("judge_item", END)
    return g


def compile_with_cache(
    builder: StateGraph[EvalState, EvalContext, EvalState, EvalState], cache_path: Path
) -> CompiledStateGraph[EvalState, EvalContext, EvalState, EvalState]:
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    return builder.compile(cache=SqliteCache(path=str(cache_path)))
