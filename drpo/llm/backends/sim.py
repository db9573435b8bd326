"""A simulated world where the truth is known, for measuring selection under judge noise.

Spec ``sim:world=improve|degrade[,noise=S][,seed=N]`` (benchmarks/selection_noise.py). One model
answers every role, like the fake model, but:

- every system prompt has a hidden true quality q on the judge's 1-5 scale, written at its end
  as ``[sim q=3.1234]`` so that it survives processes and checkpoints; a prompt without the
  token (the initial "You are a helpful assistant.") has q = Q0;
- a prompt transition writes a child with q' = clip(q + delta, 1, 5), delta ~ N(mean, sd) of the
  world (``improve``: most rewrites help a little; ``degrade``: three in four hurt), drawn from
  (world seed, parent text, the call's seed), so the same run writes the same prompts;
- the base model's answer carries the q of the system prompt it read;
- the judge scores each aspect round(q + d(query) + noise * (e + e_aspect)), clipped to 1..5:
  d(query) ~ N(0, QUERY_SD) is the query's difficulty (the same for every prompt), e ~ N(0, 1)
  is the judging's error shared by its aspects and e_aspect ~ N(0, 1) each aspect's own; both are
  drawn from (world seed, query, answer), so a re-asked judge answers the same, as at
  temperature 0. Stage-1 responses carry no token: they are judged as quality Q0.

No capable judge runs on this project's machines: the noise figures come from the two upstream
GPT-4-judged search traces (docs/selection-noise.md).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from drpo.llm.backends.fake import KINDS, FakeChatModel, _current

Q0 = 3.0  # true quality of a prompt without a token (the initial prompt)
# sd of a judging's error (shared part and per-aspect part each), from the mistral-7b trace:
# the reward of sibling prompts on the same query spreads with sd 0.57, the aspect scores of
# one judging with sd 0.53 (docs/selection-noise.md)
NOISE = 0.5
QUERY_SD = 0.8  # query difficulty: sd over queries of one prompt's reward 0.99 -> sqrt(.99²-.57²)
# a rewrite's change of q: mean and sd. Small against the noise: the paper's optimized prompt
# adds 0.02-0.13 to the average score over the basic one after a whole search (Table 3)
WORLDS: dict[str, tuple[float, float]] = {
    "improve": (0.05, 0.15),  # 63% of rewrites help
    "degrade": (-0.10, 0.15),  # 75% of rewrites hurt
}
TOKEN = re.compile(r"\[sim q=(\d+(?:\.\d+)?)\]")


def true_quality(text: str) -> float:
    """The hidden true quality of a system prompt (or of an answer, which carries it)."""
    found = TOKEN.findall(text)
    return float(found[-1]) if found else Q0


def with_quality(text: str, q: float) -> str:
    """``text`` (without any quality token) ending with the token of ``q``."""
    return f"{TOKEN.sub('', text).rstrip()} [sim q={q:.4f}]"


def _normal(*parts: Any) -> float:
    """A standard normal draw determined by ``parts``."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return random.Random(int(digest[:16], 16)).gauss(0.0, 1.0)


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i == -1:
        return ""
    body = text[i + len(start) :]
    j = body.find(end)
    return (body[:j] if j != -1 else body).strip()


class SimChatModel(FakeChatModel):
    world: str = "improve"
    noise: float = NOISE
    world_seed: int = 0  # not "seed": that is a per-call parameter

    @property
    def _llm_type(self) -> str:
        return "sim"

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> tuple[str, str, str]:
        fmt = kwargs.get("response_format") or {}
        spec = fmt.get("json_schema", {})
        name = spec.get("name", "")
        kind = KINDS.get(name, "generate") if fmt else "generate"
        if kind == "select" or name == "ResponseTransitionReply":  # stage 1 needs no truth
            return super()._reply(messages, **kwargs)
        text = "\n".join(str(m.content) for m in messages)
        key = hashlib.sha256(f"{kind}|{text}|{kwargs.get('seed')}".encode()).hexdigest()[:12]
        if kind == "judge":
            reply: dict[str, Any] = self._judge(text, spec.get("schema", {}).get("required", []))
        elif kind == "transition":
            reply = self._transition(_current(text), kwargs.get("seed"))
        else:
            return kind, key, self._answer(messages, text, kwargs.get("seed"))
        return kind, key, json.dumps(reply)

    def _transition(self, parent: str, seed: Any) -> dict[str, str]:
        mean, sd = WORLDS[self.world]
        delta = mean + sd * _normal(self.world_seed, "transition", parent, seed)
        q = min(5.0, max(1.0, true_quality(parent) + delta))
        tip = int(abs(_normal(self.world_seed, "tip", parent, seed)) * 1e6) % 100000
        child = with_quality(f"{TOKEN.sub('', parent).rstrip()}\n- Tip {tip:05d}.", q)
        return {"analysis": "simulated", "thought": "simulated", "new_system_prompt": child}

    def _answer(self, messages: list[BaseMessage], text: str, seed: Any) -> str:
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        h = hashlib.sha256(f"{self.world_seed}|{text}|{seed}".encode()).hexdigest()[:8]
        return with_quality(f"Simulated answer {h}.", true_quality(system))

    def difficulty(self, query: str) -> float:
        """The query's offset d(query) to every prompt's scores."""
        return QUERY_SD * _normal(self.world_seed, "query", query)

    def _judge(self, prompt: str, aspects: list[str]) -> dict[str, dict[str, Any]]:
        query = _between(prompt, "## Query\n", "\n\n## Output")
        output = _between(prompt, "## Output\n", "\n\n## Aspects") or prompt
        mean = true_quality(output) + self.difficulty(query)
        shared = _normal(self.world_seed, "judging", query, output)
        reply = {}
        for aspect in aspects:
            error = self.noise * (
                shared + _normal(self.world_seed, "aspect", query, output, aspect)
            )
            score = min(5, max(1, round(mean + error)))
            reply[aspect] = {"rationale": f"simulated judgment of {aspect}", "score": score}
        return reply
