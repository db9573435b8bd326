"""CompletionChatModel: a base model without a chat template (``mode=completion``) as a chat model.

The chat turns become one text in the paper's ``# Query:`` / ``# Answer:`` layout
(``render_completion``); a LangChain completion LLM continues it with ``COMPLETION_STOP`` as stop
sequences: ``langchain_openai.OpenAI`` (a server's ``/v1/completions``: vLLM, llama.cpp's
server) or ``langchain_huggingface.HuggingFacePipeline`` (a local text-generation pipeline); and
``clean_completion`` cuts the answer, as the in-process llama.cpp path does
(drpo/llm/backends/llamacpp.py, ``completion_mode``). Being a chat model, it takes the run's
hooks (cache, budget, usage: drpo/llm/model_hooks.py) and serves in ``AlignedChatModel`` like any
other base model. Plain text only: a JSON request is an error (specs.py keeps it to the base
role). A reply cut at its cap after its answer block closed is a whole answer ("stop").
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import LLMResult

from drpo.core.messages import COMPLETION_STOP, clean_completion, render_completion
from drpo.llm.backends.base import ReplyChatModel
from drpo.llm.backends.specs import ModelSpec, SpecError, parse_spec, server_key
from drpo.llm.provider_errors import describe

PIPELINE = "huggingface_pipeline"  # HuggingFacePipeline's _llm_type
ANSWER_END = ("\n```", "# Query")  # where clean_completion cuts: the answer block closed
NO_JSON = (
    "a base model in completion mode answers plain text, not JSON (tools, response_format): "
    "only the base role may use it"
)


class CompletionChatModel(ReplyChatModel):
    """Chat turns -> one completion prompt -> ``llm`` -> the answer, cut."""

    llm: BaseLLM
    max_new_tokens: int = 512  # a pipeline's cap per answer (a server's is the call's max_tokens)

    @property
    def _llm_type(self) -> str:
        return "drpo-completion"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "completion_llm": self.llm._llm_type,
            **self.llm._identifying_params,
            "max_new_tokens": self.max_new_tokens,
        }

    def _request(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[str], dict[str, Any]]:
        """The stop sequences and the LLM's call kwargs for the chat call's kwargs."""
        if kwargs.get("response_format") or kwargs.get("tools"):
            raise NotImplementedError(NO_JSON)
        params = {k: v for k, v in kwargs.items() if k != "stop" and v is not None}
        stops = [*COMPLETION_STOP, *(stop or []), *(kwargs.get("stop") or [])]
        if self.llm._llm_type != PIPELINE:
            return stops, params  # temperature, max_tokens, seed: request fields
        cap = min(int(params.get("max_tokens") or self.max_new_tokens), self.max_new_tokens)
        temperature = float(params.get("temperature") or 0)
        pipe: dict[str, Any] = {
            "max_new_tokens": cap,
            "return_full_text": False,
            "stop_sequence": stops,  # the pipeline's stop strings (it ignores ``stop``)
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            pipe["temperature"] = temperature
        return stops, {"pipeline_kwargs": pipe}

    def _message(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        prompt = render_completion(messages)
        stops, params = self._request(stop, kwargs)
        return self._reply(prompt, self.llm.generate([prompt], stop=stops, **params))

    async def _amessage(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> BaseMessage:
        prompt = render_completion(messages)
        stops, params = self._request(stop, kwargs)
        return self._reply(prompt, await self.llm.agenerate([prompt], stop=stops, **params))

    def _reply(self, prompt: str, result: LLMResult) -> AIMessage:
        generation = result.generations[0][0]
        raw = generation.text
        finish = (generation.generation_info or {}).get("finish_reason")
        if finish == "length" and any(end in raw for end in ANSWER_END):
            finish = "stop"
        output = result.llm_output or {}
        usage = output.get("token_usage") or self._counted(prompt, raw)
        return AIMessage(
            content=clean_completion(raw),
            usage_metadata=UsageMetadata(
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                total_tokens=int(usage.get("total_tokens", 0)),
            )
            if usage
            else None,
            response_metadata={
                "finish_reason": finish,
                "model_name": output.get("model_name") or getattr(self.llm, "model_id", ""),
            },
        )

    def _counted(self, prompt: str, raw: str) -> dict[str, int]:
        """A pipeline reports no usage: its tokenizer counts the prompt and the reply."""
        tokenizer = getattr(getattr(self.llm, "pipeline", None), "tokenizer", None)
        if tokenizer is None:
            return {}
        used = (
            len(tokenizer(prompt)["input_ids"]),
            len(tokenizer(raw, add_special_tokens=False)["input_ids"]),
        )
        return {"prompt_tokens": used[0], "completion_tokens": used[1], "total_tokens": sum(used)}


PROBE_TIMEOUT_S = 15.0


def checked_spec(spec: str, role: str) -> ModelSpec:
    """``parse_spec`` with the role's rule and, for a server in completion mode, one probe of its
    /v1/completions (one token) before a run exists: a 404 is bad input, a SpecError. Any other
    answer, or none, is the run's to meet (it retries, then says so)."""
    parsed = parse_spec(spec, role)
    if parsed.provider == "openai-compatible" and parsed.mode == "completion":
        import openai  # heavy: only a server spec in completion mode needs it here

        client = openai.OpenAI(
            base_url=parsed.base_url, api_key=server_key(), max_retries=0, timeout=PROBE_TIMEOUT_S
        )
        try:
            client.completions.create(model=parsed.model, prompt="# Query:", max_tokens=1)
        except openai.NotFoundError as exc:
            raise SpecError(describe(exc)) from None
        except openai.OpenAIError:
            pass
        finally:
            client.close()
    return parsed
