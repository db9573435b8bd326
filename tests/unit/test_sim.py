"""The simulated world (drpo/llm/backends/sim.py): replies parse, q propagates, the noise is as
stated, and the real graph runs on it end to end."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean, pstdev
from typing import Any

import pytest

from drpo.core.aspects import ASPECTS
from drpo.core.context import Context
from drpo.core.messages import build_messages
from drpo.core.meta_prompts import (
    JUDGE,
    PROMPT_TRANSITION,
    RESPONSE_TRANSITION,
    aspect_list,
    eval_dict,
)
from drpo.core.schemas import (
    AspectSelectionReply,
    PromptTransitionReply,
    ResponseTransitionReply,
    judge_schema,
    validate_judge_reply,
)
from drpo.llm.backends.registry import SpecError, get_chat_model, parse_spec
from drpo.llm.backends.sim import (
    NOISE,
    Q0,
    QUERY_SD,
    WORLDS,
    SimChatModel,
    true_quality,
    with_quality,
)
from drpo.llm.backends.structured import structured_via_json_schema
from tests.conftest import run_once

INITIAL = "You are a helpful assistant."
FIVE = list(ASPECTS)[:5]


def rewrite(model: SimChatModel, current: str, seed: int) -> str:
    prompt = PROMPT_TRANSITION.format(current=current, evaluations="- Clarity: 3/5. ok", former="")
    reply = structured_via_json_schema(model, PromptTransitionReply, seed=seed).invoke(prompt)
    assert isinstance(reply, PromptTransitionReply)
    return reply.new_system_prompt


def answer(model: SimChatModel, system: str, query: str) -> str:
    content = model.invoke(build_messages(system, [], query)).content
    assert isinstance(content, str)
    return content


def judge(model: SimChatModel, query: str, output: str, aspects: list[str]) -> list[float]:
    prompt = JUDGE.format(
        query=query,
        output=output,
        aspect_list=aspect_list(aspects),
        aspect_reason="r",
        eval_dict=eval_dict(aspects),
    )
    data = structured_via_json_schema(model, judge_schema(aspects)).invoke(prompt)
    return [s.score for s in validate_judge_reply(data, aspects).values()]


def test_spec_parses_and_builds_the_world() -> None:
    spec = parse_spec("sim:world=degrade,noise=0.25,seed=7")
    assert (spec.provider, spec.options) == (
        "sim",
        {"world": "degrade", "noise": "0.25", "seed": "7"},
    )
    model = get_chat_model("sim:world=degrade,noise=0.25,seed=7")
    assert isinstance(model, SimChatModel)
    assert (model.world, model.noise, model.world_seed) == ("degrade", 0.25, 7)
    assert get_chat_model("sim:world=improve").noise == NOISE  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    ["sim:", "sim:world=better", "sim:world=improve,noise=-1", "sim:world=improve,seed=x",
     "sim:world=improve,noise", "sim:world=improve,latency_ms=3"],
)  # fmt: skip
def test_bad_sim_specs_are_refused(bad: str) -> None:
    with pytest.raises(SpecError, match="sim"):
        parse_spec(bad)


def test_every_role_parses_with_the_project_schemas() -> None:
    model = SimChatModel(world="improve", world_seed=1)
    selection = structured_via_json_schema(model, AspectSelectionReply).invoke(
        "## Query\nHow do tides work?"
    )
    assert 2 <= len(selection.aspects()) <= 5
    child = rewrite(model, INITIAL, seed=11)
    assert child.startswith(INITIAL) and "[sim q=" in child
    scores = judge(model, "How do tides work?", answer(model, child, "How do tides work?"), FIVE)
    assert len(scores) == 5 and all(s in (1, 2, 3, 4, 5) for s in scores)
    icl = RESPONSE_TRANSITION.format(query="q", current="An answer.", evaluations="- Depth: 2/5")
    response = structured_via_json_schema(model, ResponseTransitionReply, seed=3).invoke(icl)
    assert isinstance(response, ResponseTransitionReply)


def test_quality_propagates_from_prompt_to_child_to_answer() -> None:
    model = SimChatModel(world="improve", world_seed=2)
    assert true_quality(INITIAL) == Q0
    child = rewrite(model, INITIAL, seed=5)
    grandchild = rewrite(model, child, seed=5)
    q1, q2 = true_quality(child), true_quality(grandchild)
    assert q1 != Q0 and q2 != q1
    assert grandchild.count("[sim q=") == 1 and grandchild.startswith(child.split(" [sim")[0])
    assert rewrite(model, child, seed=5) == grandchild  # deterministic from parent and seed
    assert rewrite(model, child, seed=6) != grandchild
    assert true_quality(answer(model, grandchild, "Name three rivers.")) == q2
    assert true_quality(answer(model, "", "Name three rivers.")) == Q0
    assert (
        SimChatModel(world="improve", world_seed=3).invoke(build_messages(child, [], "x")).content
        != model.invoke(build_messages(child, [], "x")).content
    )


@pytest.mark.parametrize("world", list(WORLDS))
def test_rewrites_drift_as_the_world_says(world: str) -> None:
    model = SimChatModel(world=world, world_seed=4)
    parent = with_quality(INITIAL, 3.0)
    deltas = [true_quality(rewrite(model, parent, seed=s)) - 3.0 for s in range(400)]
    mean, sd = WORLDS[world]
    assert abs(fmean(deltas) - mean) < 3 * sd / 20  # 3 standard errors
    assert abs(pstdev(deltas) - sd) < 0.03
    helped = sum(d > 0 for d in deltas) / len(deltas)
    assert helped > 0.55 if world == "improve" else helped < 0.35


def test_judge_noise_has_the_stated_spread() -> None:
    """Same prompt quality, different answers, one query: the reward (mean of 4 aspects) spreads
    by about sqrt(NOISE² + (NOISE² + 1/12) / 4) = 0.58 (the mistral trace: 0.57); the aspects of
    one judging by about 0.5 (trace: 0.53); one prompt over many queries by about 0.99 (0.99)."""
    model = SimChatModel(world="improve", world_seed=5)
    aspects = FIVE[:4]
    per_query = []
    for query in ("Explain photosynthesis.", "Write a haiku.", "Plan a trip to Rome."):
        rewards = [
            fmean(judge(model, query, with_quality(f"Answer {i}.", 3.0), aspects))
            for i in range(150)
        ]
        per_query.append(pstdev(rewards))
    assert 0.48 < fmean(per_query) < 0.68
    within = [
        pstdev(judge(model, "Write a haiku.", f"A {i}. [sim q=3.0]", FIVE)) for i in range(200)
    ]
    assert 0.40 < fmean(within) < 0.62
    over_queries = [
        fmean(judge(model, f"Query number {i}?", "An answer. [sim q=3.0]", aspects))
        for i in range(300)
    ]
    assert 0.85 < pstdev(over_queries) < 1.1
    assert QUERY_SD == 0.8


def test_without_noise_the_judge_reports_the_truth_plus_query_difficulty() -> None:
    model = SimChatModel(world="improve", noise=0.0, world_seed=6)
    for q in (1.4, 2.2, 3.0, 3.6, 4.7):
        scores = judge(model, "Explain photosynthesis.", f"A. [sim q={q}]", FIVE)
        assert len(set(scores)) == 1  # every aspect the same
    base = judge(model, "Explain photosynthesis.", "A. [sim q=2.0]", FIVE)[0]
    assert judge(model, "Explain photosynthesis.", "A. [sim q=3.0]", FIVE)[0] == min(5, base + 1)


def _sim_context(spec: str) -> Context:
    return Context(
        base_model=spec, optimizer_model=spec, judge_model=spec, selector_model=spec,
        llm_cache="off",
    )  # fmt: skip


def _levels(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result["records"]["system_prompt"])


def test_the_real_graph_runs_in_the_simulated_world(tmp_path: Path) -> None:
    """With noise 0 every recorded score is round(q + d(query)): q travels prompt -> answer ->
    judge through the real graph, its levels and its validation."""
    spec = "sim:world=improve,noise=0,seed=9"
    world = get_chat_model(spec)
    assert isinstance(world, SimChatModel)
    config = {
        "icl": {"n": 2, "D": 1},
        "system_prompt": {"W": 2, "M": 2, "D": 3, "K": 0, "seeds": 7, "validation": 3},
    }
    result = run_once(tmp_path, "sim", _sim_context(spec), config)
    assert result["status"] == "finished"
    levels = _levels(result)
    assert [r["level"] for r in levels] == [0, 1, 2, 3]

    def score(q: float, query: str) -> int:
        return min(5, max(1, round(q + world.difficulty(query))))

    texts = {}
    for record in levels:
        for c in record["candidates"]:
            q, texts[c["id"]] = true_quality(c["text"]), c["text"]
            for e in c["evaluations"]:
                assert true_quality(e["output"]) == q
                assert {s["score"] for s in e["scores"].values()} == {score(q, e["query"])}
    assert len({true_quality(t) for t in texts.values()}) >= 6  # initial and distinct rewrites
    validation = result["validation"]
    assert len(validation["queries"]) == 3
    for c in validation["candidates"]:
        q = true_quality(texts[c["id"]])
        assert c["rewards"] == [score(q, query) for query in validation["queries"]]
    best = str(result["best_system_prompt"])
    assert best == validation["chosen"]["text"] and best in texts.values()
    # the same world and seed write the same prompts in another run
    again = run_once(tmp_path, "sim-again", _sim_context(spec), config)
    assert again["best_system_prompt"] == best
