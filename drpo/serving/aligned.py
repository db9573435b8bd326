"""AlignedChatModel: a base model answering with a DRPO alignment pack.

Per query it retrieves the K optimized ICL examples nearest to the last user message (the same
FAISS retrieval as the optimizer's ``retrieve_icl``) and builds the prompt with
``drpo.core.messages.build_messages`` (P, then the examples as turns, then the query), sampling with
the pack's base-model settings. Earlier turns of a conversation go between the examples and the
last user message; a caller's own system message is appended to P.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import Runnable

from drpo.core.messages import ICLExample, build_messages
from drpo.llm.backends.base import ReplyChatModel
from drpo.llm.backends.registry import get_chat_model, is_openai, with_params
from drpo.serving.pack_schema import PackError, check_pack
from retrieval import get_index

__all__ = ["AlignedChatModel", "PackError", "load_pack"]


def load_pack(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The pack, checked (drpo/serving/pack_schema.py); PackError when it is not a good one."""
    return check_pack(source).model_dump()


class AlignedChatModel(ReplyChatModel):
    """A chat model (a LangChain Runnable) = a base model spec + an alignment pack."""

    base_spec: str
    system_prompt: str
    icl_examples: list[ICLExample]
    k: int
    embedding_model: str
    temperature: float = 0.0
    max_tokens: int = 384
    index_cache_dir: str | None = None

    @classmethod
    def from_pack(
        cls, pack: str | Path | dict[str, Any], base: str, **overrides: Any
    ) -> AlignedChatModel:
        data = check_pack(pack)  # every field used here, checked at load
        sampling = data.config.sampling
        fields: dict[str, Any] = {
            "base_spec": base,
            "system_prompt": data.system_prompt,
            "icl_examples": data.examples(),
            "k": min(data.K, len(data.icl_examples)),
            "embedding_model": data.embedding_model,
            "temperature": sampling.base_temperature,
            "max_tokens": sampling.base_max_tokens,
        }
        return cls(**{**fields, **overrides})

    @property
    def _llm_type(self) -> str:
        return "drpo-aligned"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"base": self.base_spec, "k": self.k, "embedding_model": self.embedding_model}

    # -- the prompt ---------------------------------------------------------------------------
    def retrieve(self, query: str) -> list[ICLExample]:
        """The K pack examples nearest to the query (blocking: embedding + FAISS)."""
        if self.k == 0 or not self.icl_examples:
            return []
        cache = Path(self.index_cache_dir) if self.index_cache_dir else None
        index = get_index(self.icl_examples, self.embedding_model, cache)
        return index.search(query, self.k, remember=False)  # user queries stay off the disk

    def compose(self, messages: Sequence[BaseMessage], icl: list[ICLExample]) -> list[BaseMessage]:
        """P (+ the caller's system text), I_K, earlier turns, the last user message."""
        turns = [m for m in messages if not isinstance(m, SystemMessage)]
        if not turns or not isinstance(turns[-1], HumanMessage):
            raise ValueError("the last message must be a user message")
        extra = "\n\n".join(m.text for m in messages if isinstance(m, SystemMessage))
        prompt = "\n\n".join(p for p in (self.system_prompt, extra) if p.strip())
        built = build_messages(prompt, icl, turns[-1].text)
        return [*built[:-1], *turns[:-1], built[-1]]

    def prepare(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        return self.compose(messages, self.retrieve(_last_user_text(messages)))

    async def aprepare(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        icl = await asyncio.to_thread(self.retrieve, _last_user_text(messages))
        return self.compose(messages, icl)

    def base_runnable(self, stop: list[str] | None) -> Runnable[Any, Any]:
        model = get_chat_model(self.base_spec)
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if is_openai(model):
            return (
                with_params(model, params).bind(stop=stop) if stop else with_params(model, params)
            )
        return model.bind(**params, **({"stop": stop} if stop else {}))

    # -- ReplyChatModel ----------------------------------------------------------------------
    def _message(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        reply: BaseMessage = self.base_runnable(stop).invoke(self.prepare(messages))
        return reply

    async def _amessage(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        reply: BaseMessage = await self.base_runnable(stop).ainvoke(await self.aprepare(messages))
        return reply

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.base_runnable(stop).stream(self.prepare(messages)):
            yield _chunk(chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in self.base_runnable(stop).astream(await self.aprepare(messages)):
            yield _chunk(chunk)


def _chunk(message: Any) -> ChatGenerationChunk:
    text = message.text if isinstance(message, BaseMessage) else str(message)
    return ChatGenerationChunk(message=AIMessageChunk(content=text))


def _last_user_text(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    raise ValueError("no user message to answer")
