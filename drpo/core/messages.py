"""The one prompt builder for the base model B, used by optimization and inference alike.

Chat models get the system prompt P, then the K retrieved ICL examples as user/assistant turns,
then the query. Completion-only models (pretrained, no chat template) get the same content as one
text in the paper's ``# Query:`` / ``# Answer:`` layout and stop at the next ``# Query``.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from typing_extensions import TypedDict


class ICLExample(TypedDict):
    query: str
    response: str


COMPLETION_STOP = ["\n# Query", "# Query:", "\n```\n\n#"]


def build_messages(
    system_prompt: str, icl_examples: Sequence[ICLExample], query: str
) -> list[BaseMessage]:
    """P + I_K + x as chat turns."""
    messages: list[BaseMessage] = []
    if system_prompt.strip():
        messages.append(SystemMessage(system_prompt))
    for example in icl_examples:
        messages.append(HumanMessage(example["query"]))
        messages.append(AIMessage(example["response"]))
    messages.append(HumanMessage(query))
    return messages


def render_completion(messages: Sequence[BaseMessage]) -> str:
    """Render chat turns as one completion text (URIAL / paper layout), open at the last answer."""
    parts: list[str] = []
    for message in messages:
        text = message.content if isinstance(message.content, str) else str(message.content)
        if isinstance(message, SystemMessage):
            parts.append(f"# Instruction\n\n{text.strip()}\n\n")
        elif isinstance(message, HumanMessage):
            parts.append(f"# Query:\n```\n{text.strip()}\n```\n\n# Answer:\n```\n")
        elif isinstance(message, AIMessage):
            parts.append(f"{text.strip()}\n```\n\n")
    return "".join(parts)


def clean_completion(text: str) -> str:
    """Cut a completion at the end of its answer block."""
    for marker in ("\n```", "# Query"):
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    return text.strip()
