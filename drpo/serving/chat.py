"""`drpo chat`: an interactive terminal chat with an aligned model (streams each answer).

Commands: ``/reset`` forgets the conversation, ``/exit`` (or end of input) quits.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from drpo.serving.aligned import AlignedChatModel


async def chat_loop(
    model: AlignedChatModel, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    history: list[BaseMessage] = []
    interactive = stdin.isatty()
    print("drpo chat: /reset forgets the conversation, /exit quits", file=sys.stderr)
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 0
        text = line.strip()
        if not text:
            continue
        if text == "/exit":
            return 0
        if text == "/reset":
            history.clear()
            print("(conversation reset)", file=stdout, flush=True)
            continue
        history.append(HumanMessage(text))
        stdout.write("assistant> ")
        parts: list[str] = []
        async for chunk in model.astream(history):
            parts.append(chunk.text)
            stdout.write(chunk.text)
            stdout.flush()
        stdout.write("\n")
        stdout.flush()
        history.append(AIMessage("".join(parts)))
