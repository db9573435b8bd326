"""Is a judge any good? Pair ordering, repeat spread and parse failures, before trusting it.

Good answers: the just-eval answers of drpo/core/resources/just-eval/judge_records_gpt4_multi.json
(scored high by GPT-4), then the upstream GPT-4-optimized ICL answers. Each is paired with three
degraded copies: truncated to its first fifth, factually altered (numbers changed, proper names
rotated, claims negated), and an off-topic reply (another item's answer). A judge that orders a pair
correctly scores the good answer strictly higher (ties count as wrong). The good answer is judged
`repeats` times; the spread is max - min of its average score.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from statistics import fmean, pstdev
from typing import Any

from typing_extensions import TypedDict

from drpo.core.data import DATA_DIR, load_icl
from evals.benchmark import DATA, REGULAR_ASPECTS, Item
from evals.graph import ReportJudgeTask
from evals.judge import JudgeResult

DEGRADATIONS = ("truncated", "factual", "off_topic")
USABLE_ACCURACY = 0.8  # below this the report calls the judge unusable


class Pair(TypedDict):
    item: Item
    good: str


def reference_pairs(n: int) -> list[Pair]:
    records = json.loads((DATA / "just-eval" / "judge_records_gpt4_multi.json").read_text())
    answers = [(r["input"], r["output_cand"]) for r in records]
    answers += [
        (e["query"], e["response"]) for e in load_icl(DATA_DIR / "icl_optimized_upstream.json")
    ]
    return [
        Pair(
            item=Item(
                id=100000 + i,
                instruction=query,
                category="regular",
                dataset="judge-check",
                task=[],
                topic=[],
                difficulty=None,
            ),
            good=answer,
        )
        for i, (query, answer) in enumerate(answers[:n])
    ]


def truncate(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(5, len(words) // 5)])


_NUM = re.compile(r"\b\d+(?:\.\d+)?\b")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}\b")
_NEGATE = ((" is ", " is not "), (" are ", " are not "), (" can ", " cannot "))


def falsify(text: str) -> str:
    """Change every number, rotate the proper names, negate the first claims."""
    text = _NUM.sub(lambda m: str(int(float(m.group()) * 3 + 7)), text)
    names = list(dict.fromkeys(_NAME.findall(text)))
    if len(names) > 1:
        swap = dict(zip(names, names[1:] + names[:1], strict=True))
        text = _NAME.sub(lambda m: swap[m.group()], text)
    for old, new in _NEGATE:
        text = text.replace(old, new, 3)
    return text


def degrade(pairs: list[Pair], index: int, kind: str) -> str:
    good = pairs[index]["good"]
    if kind == "truncated":
        return truncate(good)
    if kind == "factual":
        return falsify(good)
    if len(pairs) < 2:  # off-topic needs another answer: use a fixed unrelated reply
        return OFF_TOPIC
    return pairs[(index + max(1, len(pairs) // 2)) % len(pairs)]["good"]


OFF_TOPIC = (
    "The Pacific Ocean is the largest and deepest of Earth's five oceanic divisions. It extends "
    "from the Arctic Ocean in the north to the Southern Ocean in the south."
)


def check_tasks(
    pairs: list[Pair], judge: str, repeats: int, max_tokens: int
) -> list[ReportJudgeTask]:
    tasks: list[ReportJudgeTask] = []
    for i, pair in enumerate(pairs):
        for r in range(repeats):
            tasks.append(
                ReportJudgeTask(
                    method="good",
                    item=pair["item"],
                    output=pair["good"],
                    model=judge,
                    max_tokens=max_tokens,
                    repeat=r,
                )
            )
        for kind in DEGRADATIONS:
            tasks.append(
                ReportJudgeTask(
                    method=kind,
                    item=pair["item"],
                    output=degrade(pairs, i, kind),
                    model=judge,
                    max_tokens=max_tokens,
                    repeat=0,
                )
            )
    return tasks


def _avg(result: JudgeResult) -> float | None:
    scores = result["scores"]
    return None if scores is None else fmean(scores[a] for a in REGULAR_ASPECTS)


def check_metrics(results: list[JudgeResult]) -> dict[str, Any]:
    by_key = {(r["method"], r["item_id"], r["repeat"]): r for r in results}
    items = sorted({r["item_id"] for r in results})
    outcomes: dict[str, list[str]] = defaultdict(list)
    spreads, stds = [], []
    for item in items:
        good = _avg(by_key[("good", item, 0)])
        repeats = [_avg(r) for (m, i, _), r in sorted(by_key.items()) if m == "good" and i == item]
        valid = [v for v in repeats if v is not None]
        if len(valid) > 1:
            spreads.append(max(valid) - min(valid))
            stds.append(pstdev(valid))
        for kind in DEGRADATIONS:
            bad = _avg(by_key[(kind, item, 0)])
            if good is None or bad is None:
                outcomes[kind].append("unparsed")
            else:
                outcomes[kind].append(
                    "correct" if good > bad else "tie" if good == bad else "wrong"
                )
    every = [o for kind in DEGRADATIONS for o in outcomes[kind]]
    judged = [o for o in every if o != "unparsed"]
    attempts = sum(r["attempts"] for r in results)
    failed = sum(r["failed_attempts"] for r in results)
    by_method: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if (avg := _avg(r)) is not None:
            by_method[r["method"]].append(avg)
    accuracy = (sum(o == "correct" for o in judged) / len(judged)) if judged else None
    return {
        "pairs": len(every),
        "pair_accuracy": accuracy,
        "tie_rate": (sum(o == "tie" for o in judged) / len(judged)) if judged else None,
        "accuracy_by_degradation": {
            kind: (
                sum(o == "correct" for o in outcomes[kind])
                / max(1, sum(o != "unparsed" for o in outcomes[kind]))
            )
            for kind in DEGRADATIONS
        },
        "mean_score": {m: fmean(v) for m, v in sorted(by_method.items())},
        "repeat_spread": fmean(spreads) if spreads else None,
        "repeat_std": fmean(stds) if stds else None,
        "parse_failure_rate": failed / attempts if attempts else None,
        "unparsed_items": sum(r["scores"] is None for r in results),
        "judge_calls": attempts,
        "usable": accuracy is not None and accuracy >= USABLE_ACCURACY,
    }


def describe(check: dict[str, Any]) -> str:
    m = check["metrics"]

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    by = ", ".join(f"{k} {f(v)}" for k, v in m["accuracy_by_degradation"].items())
    verdict = (
        "usable"
        if m["usable"]
        else f"NOT usable as a judge (pair accuracy below {USABLE_ACCURACY})"
    )
    return (
        f"judge {check['judge']}: pair accuracy {f(m['pair_accuracy'])} over {m['pairs']} pairs "
        f"({by}; ties {f(m['tie_rate'])}), score spread over {check['repeats']} repeats "
        f"{f(m['repeat_spread'])}, parse-failure rate {f(m['parse_failure_rate'])} "
        f"({m['judge_calls']} calls) -> {verdict}"
    )
