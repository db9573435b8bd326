"""ReplyChatModel: a LangChain ``BaseChatModel`` written as one reply per call.

A subclass implements ``_message`` (the reply message for the messages) and, where it has an
async path of its own, ``_amessage``; the ``_generate``/``_agenerate`` signatures and the
``ChatResult`` wrapping are written here once. Streaming stays opt-in: a subclass that streams
defines ``_stream``/``_astream`` itself (BaseChatModel streams only when they are overridden).
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables.config import run_in_executor


class ReplyChatModel(BaseChatModel):
    @abstractmethod
    def _message(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        """The reply to ``messages`` (every subclass defines it)."""

    async def _amessage(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        """Default: ``_message`` in an executor thread (as BaseChatModel's own ``_agenerate``)."""
        return await run_in_executor(None, self._message, messages, stop, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _result(self._message(messages, stop, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _result(await self._amessage(messages, stop, **kwargs))


# LangChain asks inspect.signature of _generate/_agenerate on every call (do they take a
# run_manager?); a stored __signature__ answers without reading the code object again
for _method in (ReplyChatModel._generate, ReplyChatModel._agenerate):
    _method.__signature__ = inspect.signature(_method)  # type: ignore[union-attr]


def _result(message: BaseMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])
