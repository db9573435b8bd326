"""transition: s_t = T(s_{t-1}, a_{t-1}), the optimizer O rewriting a state from its feedback.

The stage spec (nodes/stages.py) writes the prompt: stage 2 rewrites the system prompt (App. E.2)
and sees the former prompts on its path (kept in the store, ``drpo.core.records``); stage 1
rewrites an ICL response (Alg. 1). Each of the M samples gets its own seed so they differ.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel

from drpo.core.context import Context
from drpo.core.state import Proposal, TransitionTask, make_candidate, seeded_hash
from drpo.llm.backends.registry import get_chat_model
from drpo.llm.calls import call_json
from nodes.stages import SPECS


def candidate_id(track: str, level: int, parent_index: int, sample: int) -> str:
    return f"{track}:L{level:02d}:{parent_index:02d}.{sample:02d}"


def sample_seed(run_seed: int, cid: str) -> int:
    return int(seeded_hash(run_seed, cid)[:8], 16)


async def transition(task: TransitionTask, runtime: Runtime[Context]) -> dict[str, Any]:
    spec, parent, sampling = SPECS[task["stage"]], task["parent"], task["sampling"]
    state = parent["candidate"]
    cid = candidate_id(state["track"], task["level"], task["parent_index"], task["sample"])
    reply: BaseModel = await call_json(
        get_chat_model(runtime.context.optimizer_model),
        spec.reply,
        await spec.transition_prompt(parent, runtime),
        name=f"transition {cid}",
        retries=runtime.context.parse_retries,
        temperature=sampling["optimizer_temperature"],
        seed=sample_seed(task["seed"], cid),
        max_tokens=sampling["json_max_tokens"],
    )
    text = str(getattr(reply, spec.field)).strip()
    child: Proposal = {
        **make_candidate(cid, state["track"], task["level"], state["id"], text),
        "analysis": str(getattr(reply, "analysis", "")),
        "thought": str(getattr(reply, "thought", "")),
    }
    return {"proposals": [child], "calls": {"optimizer": 1}}
