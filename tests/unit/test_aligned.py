"""AlignedChatModel: the optimizer's prompt builder + real FAISS retrieval over a real pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from drpo.core.messages import build_messages
from drpo.llm.backends.registry import get_chat_model
from drpo.serving.aligned import AlignedChatModel, PackError
from tests.packs import make_pack


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return make_pack(tmp_path_factory.mktemp("pack"))


def test_prompt_is_the_optimizers_with_the_nearest_examples(pack: tuple[Path, Any]) -> None:
    path, data = pack
    model = AlignedChatModel.from_pack(path, "fake")
    assert data["K"] == 2 and len(data["icl_examples"]) == 4
    target = data["icl_examples"][2]
    prepared = model.prepare([HumanMessage(target["query"])])
    icl = model.retrieve(target["query"])
    assert icl[0] == target  # the example with the same query is the nearest
    assert len(icl) == 2 and icl[1] in data["icl_examples"]
    assert prepared == build_messages(data["system_prompt"], icl, target["query"])
    assert isinstance(prepared[0], SystemMessage) and prepared[0].text == data["system_prompt"]


def test_answer_is_the_base_models_answer_to_that_prompt(pack: tuple[Path, Any]) -> None:
    path, data = pack
    model = AlignedChatModel.from_pack(path, "fake")
    query = "How do I boil an egg?"
    expected = get_chat_model("fake").invoke(model.prepare([HumanMessage(query)])).text
    assert model.invoke(query).text == expected
    assert "".join(c.text for c in model.stream(query)) == expected
    other = AlignedChatModel.from_pack({**data, "system_prompt": "Be terse."}, "fake")
    assert other.invoke(query).text != expected  # the pack's prompt reaches the base model


def test_conversation_turns_and_caller_system_text(pack: tuple[Path, Any]) -> None:
    path, data = pack
    model = AlignedChatModel.from_pack(path, "fake")
    history = [
        SystemMessage("Answer in French."),
        HumanMessage("Hi"),
        AIMessage("Salut"),
        HumanMessage("What is a prime number?"),
    ]
    out = model.prepare(history)
    assert out[0].text == data["system_prompt"] + "\n\nAnswer in French."
    assert [m.text for m in out[-3:]] == ["Hi", "Salut", "What is a prime number?"]
    assert len(out) == 1 + 2 * data["K"] + 3
    with pytest.raises(ValueError, match="last message"):
        model.prepare([HumanMessage("q"), AIMessage("a")])


def test_bad_pack_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(PackError, match="is not a drpo-alignment-pack/1"):
        AlignedChatModel.from_pack(bad, "fake")
    with pytest.raises(PackError, match="cannot read"):
        AlignedChatModel.from_pack(tmp_path / "missing.json", "fake")
