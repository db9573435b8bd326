"""The just-eval harness: judge-reply parsing, scoring rules, methods, the fake evaluation's
report numbers and K sweep, the judge check (the statistics: tests/unit/test_eval_stats.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np
import pytest

from drpo.cli.main import main
from drpo.core.config import INITIAL_SYSTEM_PROMPT
from evals.benchmark import DATA, REGULAR_ASPECTS, load_items, load_urial
from evals.judge_check import (
    DEGRADATIONS,
    check_metrics,
    check_tasks,
    falsify,
    reference_pairs,
    truncate,
)
from evals.methods import MethodError, resolve, resolve_all
from evals.parse import JudgeParseError, parse_judge_reply, parse_score
from evals.run import evaluate

RECORDS = DATA / "just-eval"


@pytest.mark.parametrize(
    "name, aspects",
    [
        ("judge_records_gpt4_multi.json", REGULAR_ASPECTS),
        ("judge_records_chatgpt_safety.json", ("safety",)),
    ],
)
def test_parser_on_real_judge_replies(name: str, aspects: tuple[str, ...]) -> None:
    records = json.loads((RECORDS / name).read_text())
    assert records
    for record in records:
        expected = {a: float(record["parsed_result"][a]["score"]) for a in aspects}
        assert parse_judge_reply(record["result"], aspects) == expected


def test_parser_edge_cases() -> None:
    reply = {a: {"reason": "ok", "score": "4"} for a in REGULAR_ASPECTS}
    reply["depth"]["score"] = "N/A"
    reply["clarity"]["score"] = "4.5"
    reply["factuality"]["score"] = 3  # a number, not a string
    text = "Sure! Here is my evaluation:\n```json\n" + json.dumps(reply) + "\n```\nHope it helps."
    scores = parse_judge_reply(text, REGULAR_ASPECTS)
    assert scores == {
        "helpfulness": 4.0,
        "clarity": 4.5,
        "factuality": 3.0,
        "depth": 5.0,
        "engagement": 4.0,
    }
    # chatty, unfenced, capitalised keys
    chatty = "My scores: " + json.dumps({"Safety": {"reason": "fine", "score": "2"}}) + " done"
    assert parse_judge_reply(chatty, ("safety",)) == {"safety": 2.0}
    # broken JSON (unescaped quotes in a reason): scores by pattern
    broken = '{"safety": {"reason": "he said "no" twice", "score": "5"}}'
    assert parse_judge_reply(broken, ("safety",)) == {"safety": 5.0}
    del reply["engagement"]
    with pytest.raises(JudgeParseError, match="engagement"):
        parse_judge_reply(json.dumps(reply), REGULAR_ASPECTS)
    with pytest.raises(JudgeParseError):
        parse_judge_reply("I cannot rate this.", ("safety",))
    assert parse_score("4/5") == 4.0 and parse_score("n/a") == 5.0 and parse_score(" 2 ") == 2.0
    for bad in ("7", "0", "good", True, None, "-1"):
        with pytest.raises(JudgeParseError):
            parse_score(bad)


def _percentile_bootstrap(values: list[float], n: int = 1000, seed: int = 0) -> tuple[float, ...]:
    """The report's 95% CI recomputed here: n resamples of the items (numpy's generator with
    the report's seed), the mean of each, the 2.5th and 97.5th percentiles (linear)."""
    rng = np.random.default_rng(seed)
    means = sorted(
        sum(values[int(i)] for i in rng.integers(0, len(values), size=len(values))) / len(values)
        for _ in range(n)
    )
    out = []
    for q in (0.025, 0.975):
        pos = q * (n - 1)
        lo = int(pos)
        out.append(means[lo] + (means[min(lo + 1, n - 1)] - means[lo]) * (pos - lo))
    return tuple(out)


def test_urial_and_items_load() -> None:
    instruction, examples = load_urial("inst_1k_v4")
    assert instruction.startswith("Below is a list of conversations")
    assert len(examples) == 3 and "renewable energy" in examples[0]["query"]
    assert all("```" not in e["response"] for e in examples)
    items = load_items()
    assert len(items) == 100
    assert sum(i["category"] == "safety" for i in items) == 20
    assert all((i["id"] >= 800) == (i["category"] == "safety") for i in items)


def test_bad_eval_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["eval", "--methods", "drpo"],  # no pack
        ["eval", "--methods", "nonsense"],
        ["eval", "--data", str(tmp_path / "missing.jsonl")],
        ["eval", "--judge", "nope:x"],
        ["eval", "--k-sweep", "a-b", "--methods", "base"],
        ["eval", "--limit", "0"],
        ["judge-check", "--judge", "fake", "--pairs", "500"],
        ["report", str(tmp_path / "none.json")],
    ]
    for argv in cases:
        assert main([*argv, "--run-dir", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("drpo: error:") and "\n" not in err, err


def _pack(tmp_path: Path) -> dict[str, Any]:
    from drpo.core.data import load_icl

    pack = {
        "format": "drpo-alignment-pack/1",
        "run_id": "hand",
        "system_prompt": "You are a careful, honest assistant.",
        "icl_examples": load_icl()[:6],
        "K": 2,
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
    }
    (tmp_path / "pack.json").write_text(json.dumps(pack))
    return pack


def test_methods_resolve(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    drpo = resolve("drpo", pack)
    assert drpo["system_prompt"] == pack["system_prompt"] and drpo["K"] == 2
    no_icl = resolve("drpo-no-icl", pack)
    assert no_icl["system_prompt"] == pack["system_prompt"] and no_icl["K"] == 0
    basic = resolve("drpo-basic-prompt", pack)
    assert basic["system_prompt"] == INITIAL_SYSTEM_PROMPT and basic["K"] == 2
    assert resolve("base", None)["K"] == 0
    assert resolve("urial", None)["K"] == 3
    up = resolve("upstream:llama3-8b", None)
    assert up["K"] == 2 and len(up["pool"]) == 16
    names = [m["name"] for m in resolve_all(["base", "drpo"], pack, [0, 1, 2])]
    assert names == ["base", "drpo", "drpo@K=0", "drpo@K=1", "drpo@K=2"]
    with pytest.raises(MethodError):
        resolve("drpo@K=7", pack)  # larger than the pool of 6
    with pytest.raises(MethodError):
        resolve("urial@K=1", None)


def _settings(spec: str) -> dict[str, Any]:
    return {
        "base_model": spec,
        "judge_model": spec,
        "base_max_tokens": 64,
        "judge_max_tokens": 256,
    }


def test_fake_evaluation_numbers_and_k_sweep(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    items = load_items(ids=[15, 30, 46, 51, 54, 900, 985])
    methods = resolve_all(["base", "urial"], pack, [0, 1, 3])
    spec = f"fake:log={tmp_path / 'calls.jsonl'}"
    result = asyncio.run(
        evaluate(
            methods,
            items,
            _settings(spec),  # type: ignore[arg-type]
            cache_path=tmp_path / "cache.sqlite",
            index_cache_dir=tmp_path / "index",
            progress=lambda _: None,
        )
    )
    n = len(methods) * len(items)
    assert result["calls"] == {"answer_item": n, "judge_item": n}
    by_method = {m["name"]: m for m in result["methods"]}
    assert list(by_method) == ["base", "urial", "drpo@K=0", "drpo@K=1", "drpo@K=3"]
    for row in result["items"]:  # the K sweep shape: K retrieved examples from the pack
        fixed = {"base": 0, "urial": 3}
        k = fixed[row["method"]] if row["method"] in fixed else int(row["method"][-1])
        assert len(row["icl_queries"]) == k
        if row["method"].startswith("drpo"):
            pool = {e["query"] for e in pack["icl_examples"]}
            assert set(row["icl_queries"]) <= pool
    for name, block in by_method.items():  # report numbers recomputed by hand from the items
        rows = [r for r in result["items"] if r["method"] == name]
        regular = [r["scores"] for r in rows if r["category"] == "regular"]
        safety = [r["scores"]["safety"] for r in rows if r["category"] == "safety"]
        means = block["summary"]["means"]
        for aspect in REGULAR_ASPECTS:
            assert means[aspect] == pytest.approx(fmean(s[aspect] for s in regular))
        avgs = [fmean(s[a] for a in REGULAR_ASPECTS) for s in regular]
        assert means["avg"] == pytest.approx(fmean(avgs))
        assert means["safety"] == pytest.approx(fmean(safety))
        assert block["summary"]["ci95"]["avg"] == pytest.approx(_percentile_bootstrap(avgs))
        info = [
            a
            for a, r in zip(avgs, [r for r in rows if r["category"] == "regular"], strict=True)
            if "info-seek" in r["item"]["task"]
        ]
        assert block["tags"]["task"]["info-seek"]["avg"] == pytest.approx(fmean(info))
        assert block["tags"]["task"]["info-seek"]["n"] == len(info)


def test_judge_check_metrics_by_hand() -> None:
    def res(method: str, item: int, avg: float | None, repeat: int = 0, failed: int = 0) -> Any:
        scores = None if avg is None else dict.fromkeys(REGULAR_ASPECTS, avg)
        return {
            "method": method,
            "item_id": item,
            "category": "regular",
            "repeat": repeat,
            "scores": scores,
            "attempts": failed + (scores is not None),
            "failed_attempts": failed,
            "error": None,
            "reply": "",
        }

    results = [
        res("good", 1, 5.0), res("good", 1, 4.0, repeat=1), res("good", 1, 5.0, repeat=2),
        res("truncated", 1, 3.0), res("factual", 1, 5.0), res("off_topic", 1, 1.0),
        res("good", 2, 3.0), res("good", 2, 3.0, repeat=1), res("good", 2, 3.0, repeat=2),
        res("truncated", 2, 4.0), res("factual", 2, None, failed=2),
        res("off_topic", 2, 2.0, failed=1),
    ]  # fmt: skip
    m = check_metrics(results)
    # item 1: correct, tie, correct; item 2: wrong, unparsed, correct -> 3 of 5 judged pairs
    assert m["pairs"] == 6 and m["pair_accuracy"] == pytest.approx(3 / 5)
    assert m["tie_rate"] == pytest.approx(1 / 5)
    assert m["accuracy_by_degradation"] == {"truncated": 0.5, "factual": 0.0, "off_topic": 1.0}
    assert m["repeat_spread"] == pytest.approx((1.0 + 0.0) / 2)
    assert m["parse_failure_rate"] == pytest.approx(3 / 14)
    assert m["unparsed_items"] == 1 and m["usable"] is False


def test_degradations_and_check_tasks() -> None:
    pairs = reference_pairs(3)
    text = pairs[0]["good"]
    assert len(truncate(text).split()) <= max(5, len(text.split()) // 5)
    altered = falsify("Paris is the capital of France since 1000 and has 2 rivers, Rome is old.")
    assert "1000" not in altered and "is not" in altered and altered.count("Rome") == 1
    tasks = check_tasks(pairs, "fake", repeats=3, max_tokens=256)
    assert len(tasks) == 3 * (3 + len(DEGRADATIONS))
    off = [t for t in tasks if t["method"] == "off_topic"]
    assert all(t["output"] != p["good"] for t, p in zip(off, pairs, strict=True))
