"""Valid replies of every JSON schema the project sends, then one mutation each (hypothesis):
the parser accepts exactly the replies that are still valid, with the values they state, and
rejects the others with the error that call_json retries. The oracles are written here, from
the schemas' rules, not with the code under test; each test counts the examples reaching each
assertion and requires a floor (printed at the end of the session)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from drpo.core.aspects import ASPECTS
from drpo.core.schemas import (
    AspectSelectionReply,
    PromptTransitionReply,
    judge_schema,
    validate_judge_reply,
)
from drpo.llm.backends.structured import parse_reply
from drpo.llm.judges import Overall
from tests.properties import PARSE_ERRORS, SETTINGS, floor

NAMES = list(ASPECTS)
words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=30)
wrap = st.sampled_from(["bare", "fence", "prose"])
BAD_SCORES = [0, 6, -1, 5.5, 0.5, "N/A", "", "five", None, True, False, [], {}, "nan", "inf"]


def _text(data: Any, kind: str) -> str:
    body = json.dumps(data)
    return {
        "bare": body,
        "fence": f"Here it is:\n```json\n{body}\n```",
        "prose": f"My verdict follows. {body} That is all.",
    }[kind]


def _parse_judge(text: str, aspects: list[str]) -> dict[str, float]:
    scores = validate_judge_reply(parse_reply(AIMessage(text), judge_schema(aspects)), aspects)
    return {a: s.score for a, s in scores.items()}


JUDGE_MUTATIONS = ["none", "drop", "bad_score", "text_score", "case", "extra", "conflict",
                   "same_twice", "no_rationale", "not_object", "truncate"]  # fmt: skip


def test_judge_reply_mutations() -> None:
    reached: Counter[str] = Counter()

    @SETTINGS
    @given(
        st.lists(st.sampled_from(NAMES), min_size=2, max_size=5, unique=True),
        st.sampled_from(JUDGE_MUTATIONS),
        wrap,
        st.data(),
    )
    def check(aspects: list[str], mutation: str, kind: str, data: st.DataObject) -> None:
        scores = {a: data.draw(st.integers(1, 5)) for a in aspects}
        reply: Any = {a: {"rationale": f"on {a}", "score": s} for a, s in scores.items()}
        want: dict[str, float] | None = {a: float(s) for a, s in scores.items()}
        victim = data.draw(st.sampled_from(aspects))
        if mutation == "drop":
            del reply[victim]
            want = None
        elif mutation == "bad_score":
            reply[victim]["score"] = data.draw(st.sampled_from(BAD_SCORES))
            want = None
        elif mutation == "text_score":  # "4", " 4 ", "4/5", "4.0" state the score 4
            form = data.draw(st.sampled_from(["{}", " {} ", "{}/5", "{}.0"]))
            reply[victim]["score"] = form.format(scores[victim])
        elif mutation == "case":
            reply[victim.lower()] = reply.pop(victim)
        elif mutation == "extra":  # keys that are no aspect are not part of the reward
            reply[data.draw(st.sampled_from(["notes", "Overall", "x1"]))] = {"score": 1}
        elif mutation == "conflict":  # the aspect twice, with two different scores
            reply[victim.upper()] = {"rationale": "again", "score": scores[victim] % 5 + 1}
            want = None
        elif mutation == "same_twice":  # the same entry twice under two spellings
            reply[victim.upper()] = dict(reply[victim])
        elif mutation == "no_rationale":
            del reply[victim]["rationale"]
            want = None
        elif mutation == "not_object":
            reply = list(reply.values())
            want = None
        text = _text(reply, kind)
        if mutation == "truncate":
            text = text[: data.draw(st.integers(1, len(json.dumps(reply)) - 1))]
            want = None
        if want is None:
            with pytest.raises(PARSE_ERRORS):
                _parse_judge(text, aspects)
            reached["rejected"] += 1
        else:
            assert _parse_judge(text, aspects) == want
            reached["accepted"] += 1

    check()
    floor("judge reply mutations", reached, accepted=40, rejected=40)


ANALYSIS = {k: "x" for k in ("main_topic", "user_intent", "ambiguities", "response_format",
                             "challenges")}  # fmt: skip
NEW = [{"name": "Humor", "description": "Playful where the query invites it."},
       {"name": "Brevity", "description": "Says it in as few words as it can."}]  # fmt: skip
SELECTION_MUTATIONS = ["none", "list_form", "lower", "false_flag", "too_few", "too_many",
                       "unknown", "short_description", "nameless_new", "no_analysis",
                       "long_reasoning"]  # fmt: skip


def test_aspect_selection_mutations() -> None:
    reached: Counter[str] = Counter()

    @SETTINGS
    @given(
        st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True),
        st.integers(0, 1),
        st.sampled_from(SELECTION_MUTATIONS),
        wrap,
    )
    def check(chosen: list[str], n_new: int, mutation: str, kind: str) -> None:
        new = [dict(a) for a in NEW[:n_new]]
        flags: Any = dict.fromkeys(chosen, True)
        body: dict[str, Any] = {"reasoning": "why", "selected_aspects": flags, "new_aspects": new}
        reply: dict[str, Any] = {"query_analysis": ANALYSIS, "aspects_selection": body}
        # the oracle: predefined aspects in the order of ASPECTS, then the new ones
        want: dict[str, str] | None = {n: ASPECTS[n] for n in NAMES if n in chosen}
        want |= {a["name"]: a["description"] for a in new}
        spare = [n for n in NAMES if n not in chosen]
        if mutation == "list_form":
            body["selected_aspects"] = list(chosen)
        elif mutation == "lower":
            body["selected_aspects"] = {n.lower(): True for n in chosen}
        elif mutation == "false_flag":
            flags[spare[0]] = False
        elif mutation == "too_few":
            body["selected_aspects"], body["new_aspects"] = {chosen[0]: True}, []
            want = None
        elif mutation == "too_many":
            flags.update(dict.fromkeys(spare[: 6 - len(chosen) - n_new], True))
            want = None
        elif mutation == "unknown":
            flags["Bogus"] = True
            want = None
        elif mutation == "short_description":  # dropped like a nameless one; then 2-5 must hold
            new.append({"name": "Wit", "description": "short"})
        elif mutation == "nameless_new":  # dropped ("..." is no name); then 2-5 must hold
            new.append({"name": "...", "description": "A proposal without a name."})
        elif mutation == "no_analysis":
            del reply["query_analysis"]
            want = None
        elif mutation == "long_reasoning":
            body["reasoning"] = "r" * 601
            want = None
        text = _text(reply, kind)
        if want is None:
            with pytest.raises(PARSE_ERRORS):
                parse_reply(AIMessage(text), AspectSelectionReply)
            reached["rejected"] += 1
        else:
            assert parse_reply(AIMessage(text), AspectSelectionReply).aspects() == want
            reached["accepted"] += 1

    check()
    floor("aspect selection mutations", reached, accepted=40, rejected=40)


TRANSITION_MUTATIONS = ["none", "short", "long", "drop", "number", "extra", "null"]


def test_transition_and_holistic_reply_mutations() -> None:
    reached: Counter[str] = Counter()

    @SETTINGS
    @given(words, st.integers(20, 400), st.sampled_from(TRANSITION_MUTATIONS), wrap,
           st.integers(1, 5))  # fmt: skip
    def check(thought: str, length: int, mutation: str, kind: str, score: int) -> None:
        prompt = ("You are careful. " * 30)[:length]
        reply: dict[str, Any] = {"analysis": "a", "thought": thought, "new_system_prompt": prompt}
        verdict: dict[str, Any] = {"rationale": thought, "score": score}
        valid = mutation in ("none", "extra")
        if mutation == "short":
            reply["new_system_prompt"], verdict["score"] = prompt[:19], 0
        elif mutation == "long":
            reply["new_system_prompt"], verdict["rationale"] = "x" * 4001, "x" * 601
        elif mutation == "drop":
            del reply["thought"], verdict["score"]
        elif mutation == "number":
            reply["new_system_prompt"], verdict["score"] = 12345678901234567890, "high"
        elif mutation == "null":
            reply["analysis"], verdict["rationale"] = None, None
        elif mutation == "extra":
            reply["confidence"] = verdict["confidence"] = 0.9
        for schema, data in ((PromptTransitionReply, reply), (Overall, verdict)):
            text = _text(data, kind)
            if not valid:
                with pytest.raises(PARSE_ERRORS):
                    parse_reply(AIMessage(text), schema)
                reached["rejected"] += 1
                continue
            got = parse_reply(AIMessage(text), schema).model_dump()
            assert got == {k: v for k, v in data.items() if k != "confidence"}
            reached["accepted"] += 1

    check()
    floor("transition and holistic mutations", reached, accepted=40, rejected=100)
