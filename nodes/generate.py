"""generate: the base model's answer B(x | s, I_K*) for one candidate and query (Alg. 2).

The answer goes straight on to its own judge task, so each chain of a level runs on its own.
"""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from drpo.core.context import Context
from drpo.core.messages import build_messages
from drpo.core.state import GenerateTask, JudgeTask
from drpo.llm.backends.registry import get_chat_model
from drpo.llm.calls import call_text


async def generate(task: GenerateTask, runtime: Runtime[Context]) -> Command[Literal["judge"]]:
    sampling = task["sampling"]
    messages = build_messages(task["candidate"]["text"], task["icl"], task["query"])
    output = await call_text(
        get_chat_model(runtime.context.base_model),
        messages,
        name=f"generate {task['candidate']['id']} on query {task['query'][:60]!r}",
        temperature=sampling["base_temperature"],
        max_tokens=sampling["base_max_tokens"],
    )
    judged: JudgeTask = {
        "candidate": task["candidate"],
        "query": task["query"],
        "output": output.strip(),
        "aspects": task["aspects"],
        "sampling": sampling,
        "then": task["then"],
    }
    return Command(update={"calls": {"base": 1}}, goto=Send("judge", judged))
