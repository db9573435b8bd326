"""``hf:PATH,mode=completion,max_new_tokens=N`` through a real transformers text-generation
pipeline, offline: a one-layer GPT-2 saved with ``save_pretrained``, its weights set by hand so
that greedy decoding is a fixed chain of tokens (each token's embedding is one-hot, the blocks
add nothing, the output layer maps a token to the next of the chain). After the prompt's open
``# Answer:`` block it writes an answer, the closing fence and the next ``# Query:``, then
" LEAK" for ever: the stop sequences end it after two tokens, the cut keeps the answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from drpo.core.messages import build_messages
from drpo.llm.backends.registry import get_chat_model

ANSWER = "Paris is the capital."
CHAIN = ["# Answer:\n```\n", ANSWER, "\n```\n\n# Query:", " LEAK"]
MESSAGES = build_messages("Be brief.", [{"query": "2 + 2?", "response": "4."}], "Capital?")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chain-gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=260,
        special_tokens=["<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(["What is DNA?"], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>")  # no pad token
    tokenizer.add_tokens(CHAIN)
    ids = [tokenizer.get_vocab()[token] for token in CHAIN]
    size = len(tokenizer)
    config = GPT2Config(vocab_size=size, n_positions=1024, n_embd=size, n_layer=1, n_head=1,
                        tie_word_embeddings=False, bos_token_id=0, eos_token_id=0)  # fmt: skip
    gpt = GPT2LMHeadModel(config)
    with torch.no_grad():
        for weight in gpt.parameters():
            weight.zero_()
        gpt.transformer.wte.weight.copy_(torch.eye(size))
        for name, weight in gpt.named_parameters():
            if "ln_" in name and name.endswith(".weight"):  # the layer norms: identity scale
                weight.fill_(1.0)
        for now, then in [*zip(ids, ids[1:], strict=False), (ids[-1], ids[-1])]:
            gpt.lm_head.weight[then, now] = 10.0
    tokenizer.save_pretrained(path)
    gpt.save_pretrained(path)
    return path


def test_the_pipeline_stops_and_the_answer_is_cut(model_dir: Path) -> None:
    model = get_chat_model(f"hf:{model_dir},mode=completion,max_new_tokens=8")
    reply = model.invoke(MESSAGES, temperature=0.0, max_tokens=64)
    assert reply.text == ANSWER
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 2  # the answer and the fence + "# Query:"
    assert reply.usage_metadata["input_tokens"] > 20  # the whole rendered prompt
    # without the stop sequences the same pipeline runs on to its cap
    plain = {"max_new_tokens": 8, "return_full_text": False}
    result = model.llm.generate(["# Answer:\n```\n"], pipeline_kwargs=plain)  # type: ignore[attr-defined]
    raw = result.generations[0][0].text
    assert raw.startswith(ANSWER + "\n```\n\n# Query:") and raw.count("LEAK") == 6


def test_max_new_tokens_caps_every_answer(model_dir: Path) -> None:
    one = get_chat_model(f"hf:{model_dir},mode=completion,max_new_tokens=1")
    reply = one.invoke(MESSAGES, max_tokens=64)
    assert reply.text == ANSWER and reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 1  # no closing fence: the cap came first
    capped = get_chat_model(f"hf:{model_dir},mode=completion,max_new_tokens=8")
    assert capped.invoke(MESSAGES, max_tokens=1).usage_metadata == reply.usage_metadata


def test_chat_mode_takes_max_new_tokens(model_dir: Path) -> None:
    chat = get_chat_model(f"hf:{model_dir},max_new_tokens=8")
    assert type(chat).__name__ == "ChatHuggingFace"
    pipe = chat.llm.pipeline  # type: ignore[attr-defined]
    out = pipe("# Answer:\n```\n", return_full_text=False)[0]["generated_text"]
    assert out.count("LEAK") == 6  # 8 new tokens: the spec's cap, not the fixed 512 of before
