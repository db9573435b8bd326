"""Meta-prompts of DRPO (paper App. E), written for this project.

Reward selection (E.1.2), rewarding (E.1 with the eval dict of E.1.1) and the state transitions
(E.2 for the system prompt; the same shape for an ICL response in Alg. 1).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from drpo.core.aspects import ASPECTS

SELECT_ASPECTS = """You are an impartial judge. Choose the aspects that matter most for a \
high-quality answer to the query below: at least 2 and at most 5 in all. Pick them from this list, \
or propose a new aspect (with a one-line description) when the list misses something important.

## Aspects
{aspect_list}

## Query
{query}

## Instructions
First analyse the query: its main topic, what the user wants, any ambiguity or missing or wrong \
information, the kind of answer that would serve the user, and what makes answering hard. Then \
select the aspects and explain why.

Reply with one JSON object:
{{"query_analysis": {{"main_topic": "...", "user_intent": "...", "ambiguities": "...", \
"response_format": "...", "challenges": "..."}},
 "aspects_selection": {{"reasoning": "...", "selected_aspects": {{"Aspect": true, "...": true}}, \
"new_aspects": [{{"name": "...", "description": "..."}}]}}}}
"selected_aspects" marks the chosen aspects of the list with true; "new_aspects" may be empty; \
together they hold 2 to 5 aspects."""

JUDGE = """You are an impartial judge. Rate the quality of the output below on each of the \
selected aspects.

## Query
{query}

## Output
{output}

## Aspects
{aspect_list}

They were selected for these reasons:
{aspect_reason}

## Scale
Score every aspect on its own from 1 to 5:
1 = strongly disagree, 2 = disagree, 3 = neutral, 4 = agree, 5 = strongly agree
(that the output meets the aspect).

Reply with one JSON object that fills in this template, a short rationale before each score:
{eval_dict}"""

PROMPT_TRANSITION = """I am designing a system prompt for a language model that answers user \
queries. The goal is to raise the quality of its answers on every aspect of evaluation.

## Current system prompt
{current}

## How it did
{evaluations}

## Former system prompts on this path (oldest first, the last is the current one)
{former}

## Write a better system prompt
Guidelines:
1. It must be better than the current one; you may edit it, add new instructions, or start anew.
2. A score of 5 is best and 1 is worst; balance the quality across all aspects.
3. It must be general and suit every kind of query, not only the query above.
Structure:
4. Open with general instructions on being a helpful, ethical assistant and on its abilities.
5. Then bullet points: its limits (no internet or real-time data, no physical actions, refuse \
malicious requests) and that refusing is better than an unrelated answer.
6. Include tips for engaging, human-sounding answers and pitfalls that sound robotic.
7. Turn the evaluations above into concrete tips on what to do or avoid.
8. Keep bullets informative and short; add at most 2 bullets per revision; never more than 8 \
bullets; merge or reword bullets rather than dropping ones that serve the overall goal.

Reply with one JSON object:
{{"analysis": "<what the scores and the current prompt say needs improving>",
 "thought": "<how to improve the prompt>",
 "new_system_prompt": "<the new system prompt>"}}"""

RESPONSE_TRANSITION = """You write the ideal answer to a query, one that a strict critic \
would score 5 on every aspect.

## Query
{query}

## Current answer
{current}

## The critic's evaluation
{evaluations}

## Rewrite the answer
Guidelines:
1. Address every point of the critique, however small.
2. Answer in your own voice as the assistant; say nothing about how you were built or trained.
3. Structure the answer: a short overview, then at most 6 bullet or numbered points, then a \
brief close; do not label these parts with headings.
4. If the query has malicious intent, clearly decline to help, say why it is harmful or illegal, \
and offer a safe, legal alternative.
5. Add depth: explain the reasoning, and give details or resources an expert would value too.
6. Be factual: prefer correct general statements to specific ones you are unsure of.

Reply with one JSON object:
{{"analysis": "<what the critique says needs improving>",
 "thought": "<how to improve the answer>",
 "new_response": "<the new answer>"}}"""


def aspect_list(
    names: Sequence[str] | None = None, descriptions: dict[str, str] | None = None
) -> str:
    table = descriptions or ASPECTS
    return "\n".join(
        f"- {name}: {table.get(name, ASPECTS.get(name, ''))}" for name in names or table
    )


def eval_dict(aspects: Sequence[str]) -> str:
    return _eval_dict(tuple(aspects))


@functools.lru_cache(maxsize=256)  # each query's aspects are judged for every candidate
def _eval_dict(aspects: tuple[str, ...]) -> str:
    template = {
        name: {
            "rationale": f"[your thoughts on the {name.lower()} of the output]",
            "score": "[1-5]",
        }
        for name in aspects
    }
    return json.dumps(template, indent=2)


def format_evaluation(scores: dict[str, dict[str, object]]) -> str:
    return "\n".join(f"- {name}: {s['score']}/5. {s['rationale']}" for name, s in scores.items())
