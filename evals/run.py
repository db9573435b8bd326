"""Run an evaluation (or a judging-only pass) through the cached graph, with progress."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.benchmark import JUDGE_SYSTEM, Item
from evals.graph import (
    EvalContext,
    EvalState,
    ReportJudgeTask,
    Settings,
    build_eval_graph,
    build_judge_graph,
    compile_with_cache,
)
from evals.judge import JudgeResult
from evals.methods import Method
from evals.parse import NA_SCORE
from evals.stats import TAGS, summarize, tag_table

RESULT_FORMAT = "drpo-eval/1"
Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class _Counter:
    """Counts finished tasks per node from the update stream and prints progress now and then."""

    def __init__(self, totals: dict[str, int], progress: Progress, every_s: float = 10.0) -> None:
        self.totals, self.progress, self.every_s = totals, progress, every_s
        self.done: Counter[str] = Counter()
        self.cached: Counter[str] = Counter()
        self.last = 0.0

    def update(self, chunk: dict[str, Any]) -> None:
        cached = bool((chunk.get("__metadata__") or {}).get("cached"))
        for node in chunk:
            if node in self.totals:
                self.done[node] += 1
                self.cached[node] += cached
                finished = self.done[node] == self.totals[node]
                if finished or time.monotonic() - self.last >= self.every_s:
                    self.last = time.monotonic()
                    self.progress(
                        f"{node}: {self.done[node]}/{self.totals[node]} "
                        f"({self.cached[node]} from cache)"
                    )

    def calls(self) -> dict[str, int]:
        return {node: self.done[node] - self.cached[node] for node in self.totals}


async def _stream(
    graph: Any, state: EvalState, context: EvalContext, counter: _Counter, concurrency: int
) -> EvalState:
    final: EvalState = {}
    context.slots = asyncio.Semaphore(concurrency)
    async for mode, chunk in graph.astream(
        state,
        {"recursion_limit": 100},
        context=context,
        stream_mode=["updates", "values"],
    ):
        if mode == "updates":
            counter.update(chunk)
        else:
            final = chunk
    return final


async def run_judging(
    tasks: list[ReportJudgeTask],
    *,
    cache_path: Path,
    retries: int,
    concurrency: int = 4,
    progress: Progress = _stderr,
) -> tuple[list[JudgeResult], dict[str, int]]:
    graph = compile_with_cache(build_judge_graph(), cache_path)
    counter = _Counter({"judge_item": len(tasks)}, progress)
    final = await _stream(
        graph, {"judge_tasks": tasks}, EvalContext(parse_retries=retries), counter, concurrency
    )
    return list(final.get("verdicts", [])), counter.calls()


async def evaluate(
    methods: list[Method],
    items: list[Item],
    settings: Settings,
    *,
    cache_path: Path,
    index_cache_dir: Path | None,
    retries: int = 3,
    concurrency: int = 4,
    progress: Progress = _stderr,
) -> dict[str, Any]:
    """Answer and judge every item with every method; the result dict of one evaluation."""
    started = time.monotonic()
    graph = compile_with_cache(build_eval_graph(), cache_path)
    n = len(methods) * len(items)
    counter = _Counter({"answer_item": n, "judge_item": n}, progress)
    context = EvalContext(
        parse_retries=retries,
        index_cache_dir=str(index_cache_dir) if index_cache_dir else None,
    )
    state: EvalState = {"methods": methods, "items": items, "settings": settings}
    final = await _stream(graph, state, context, counter, concurrency)
    answers = {(a["method"], a["item"]["id"]): a for a in final.get("answers", [])}
    verdicts = {(v["method"], v["item_id"]): v for v in final.get("verdicts", [])}
    rows: list[dict[str, Any]] = []
    for method in methods:
        for item in items:
            answer, verdict = (
                answers[(method["name"], item["id"])],
                verdicts[(method["name"], item["id"])],
            )
            rows.append(
                {
                    "method": method["name"],
                    "id": item["id"],
                    "category": item["category"],
                    "item": item,
                    "output": answer["output"],
                    "icl_queries": answer["icl_queries"],
                    "scores": verdict["scores"],
                    "attempts": verdict["attempts"],
                    "failed_attempts": verdict["failed_attempts"],
                    "error": verdict["error"],
                    "judge_reply": verdict["reply"],
                }
            )
    return {
        "format": RESULT_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": {"base": settings["base_model"], "judge": settings["judge_model"]},
        "judge_protocol": {
            "templates": "just-eval MULTI_SCORE / SAFETY_SCORE (drpo/core/resources/just-eval)",
            "system_message": JUDGE_SYSTEM,
            "temperature": 0.0,
            "na_score": NA_SCORE,
            "parse_retries": retries,
            "max_tokens": settings["judge_max_tokens"],
        },
        "base_max_tokens": settings["base_max_tokens"],
        "n_items": len(items),
        "methods": [
            method_block(m, [r for r in rows if r["method"] == m["name"]]) for m in methods
        ],
        "items": rows,
        "calls": counter.calls(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }


def method_block(method: Method, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": method["name"],
        "K": method["K"],
        "source": method["source"],
        "system_prompt": method["system_prompt"],
        "summary": summarize(rows),
        "tags": {tag: tag_table(rows, tag) for tag in TAGS},
    }
