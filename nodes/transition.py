"""transition: s_t = T(s_{t-1}, a_{t-1}), the optimizer O rewriting a state from its feedback.

Stage 2 rewrites the system prompt (App. E.2) and sees the former prompts on its path (kept in
the store, ``drpo.core.records``); stage 1 rewrites an ICL response (Alg. 1). Each of the M samples
gets its own seed so they differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

from langgraph.runtime import Runtime

from drpo.core.calls import call_json
from drpo.core.config import Context
from drpo.core.meta_prompts import PROMPT_TRANSITION, RESPONSE_TRANSITION, format_evaluation
from drpo.core.models import get_chat_model
from drpo.core.records import read_former, require_store, thread_of
from drpo.core.schemas import PromptTransitionReply, ResponseTransitionReply
from drpo.core.state import Candidate, Evaluation, TransitionTask, run_config


def candidate_id(track: str, level: int, parent_index: int, sample: int) -> str:
    return f"{track}:L{level:02d}:{parent_index:02d}.{sample:02d}"


def sample_seed(run_seed: int, cid: str) -> int:
    return int(hashlib.sha256(f"{run_seed}|{cid}".encode()).hexdigest()[:8], 16)


def feedback(evaluations: list[Evaluation], with_query: bool) -> str:
    """The alignment feedback a: outputs and their per-aspect evaluations."""
    blocks = []
    for ev in evaluations:
        head = f"Query:\n{ev['query']}\n\nOutput:\n{ev['output']}\n\n" if with_query else ""
        blocks.append(f"{head}Evaluation:\n{format_evaluation(ev['scores'])}")
    return "\n\n---\n\n".join(blocks)


async def transition(task: TransitionTask, runtime: Runtime[Context]) -> dict[str, Any]:
    config, parent = run_config(task), task["parent"]
    state = parent["candidate"]
    cid = candidate_id(state["track"], task["level"], task["parent_index"], task["sample"])
    reply: PromptTransitionReply | ResponseTransitionReply
    if task["stage"] == "system_prompt":
        store = require_store(runtime.store)
        former = [*await read_former(store, thread_of(runtime), state["id"]), state["text"]]
        prompt = PROMPT_TRANSITION.format(
            current=state["text"],
            evaluations=feedback(parent["evaluations"], with_query=True),
            former="\n\n".join(f"{i + 1}. {text}" for i, text in enumerate(former)),
        )
        schema: type[PromptTransitionReply | ResponseTransitionReply] = PromptTransitionReply
    else:
        prompt = RESPONSE_TRANSITION.format(
            query=parent["evaluations"][0]["query"],
            current=state["text"],
            evaluations=feedback(parent["evaluations"], with_query=False),
        )
        schema = ResponseTransitionReply
    reply = await call_json(
        get_chat_model(runtime.context.optimizer_model),
        schema,
        prompt,
        name=f"transition {cid}",
        retries=runtime.context.parse_retries,
        temperature=config.sampling.optimizer_temperature,
        seed=sample_seed(config.seed, cid),
        max_tokens=config.sampling.json_max_tokens,
    )
    text = (
        reply.new_system_prompt if isinstance(reply, PromptTransitionReply) else reply.new_response
    )
    child: Candidate = {
        "id": cid,
        "track": state["track"],
        "level": task["level"],
        "parent": state["id"],
        "text": text.strip(),
        "analysis": reply.analysis,
        "thought": reply.thought,
    }
    return {"proposals": [child], "calls": {"optimizer": 1}}
