"""The persistent embedding cache (retrieval/embedding_cache.py) against the real MiniLM model:
read-back vectors are the model's own, a warm cache spares loading torch, bad rows are redone."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drpo.core.messages import ICLExample
from drpo.serving.aligned import AlignedChatModel
from retrieval import DEFAULT_EMBEDDING_MODEL, embed
from retrieval.embedding_cache import EmbeddingCache
from retrieval.embeddings import model_identity
from tests.conftest import ENV, ROOT

pytestmark = pytest.mark.slow
TEXTS = ["How do I bake sourdough bread?", "Append to a list in Python", "Tell me a joke"]


@pytest.fixture()
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "embeddings.sqlite"
    monkeypatch.setenv("DRPO_EMBEDDING_CACHE", str(path))
    return path


def _model_vectors(monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> np.ndarray:
    with monkeypatch.context() as patch:
        patch.setenv("DRPO_EMBEDDING_CACHE", "off")
        return embed(texts)


def test_read_back_vectors_are_the_models(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = embed(TEXTS[:2])
    assert cache_file.is_file()
    mixed = embed(TEXTS)  # two read back, one new
    np.testing.assert_array_equal(mixed[:2], first)  # read back bit for bit
    # the model's own vectors (a batch's padding moves the last float bits: ~1e-7)
    truth = _model_vectors(monkeypatch, TEXTS)
    np.testing.assert_allclose(mixed, truth, atol=1e-6)
    assert mixed.dtype == np.float32 and mixed.flags.c_contiguous


def test_a_warm_cache_does_not_load_torch(cache_file: Path) -> None:
    code = (
        f"import sys; from retrieval import embed; v = embed({TEXTS!r}); "
        "print(v.shape, 'torch' in sys.modules)"
    )
    env = {**ENV, "DRPO_EMBEDDING_CACHE": str(cache_file)}
    cold, warm = (
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout.split()[-1]
        for _ in range(2)
    )
    assert (cold, warm) == ("True", "False")


def test_bad_rows_are_recomputed(cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embed(TEXTS)
    key = EmbeddingCache.key(model_identity(), TEXTS[1])
    with sqlite3.connect(cache_file) as db:
        db.execute("UPDATE vectors SET data = ? WHERE key = ?", (b"\x00" * 12, key))
        db.execute(
            "UPDATE vectors SET data = ? WHERE key != ?",
            (np.full(384, np.nan, dtype="<f4").tobytes(), key),
        )
    truth = _model_vectors(monkeypatch, TEXTS)
    again = embed(TEXTS)
    np.testing.assert_allclose(again, truth, atol=1e-6)
    with sqlite3.connect(cache_file) as db:  # and the rows were written again
        rows = dict(db.execute("SELECT key, data FROM vectors").fetchall())
    assert rows[key] == again[1].astype("<f4").tobytes()


def test_rows_belong_to_one_model_identity(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    cache.put_many("model-a", ["x"], np.ones((1, 4), dtype=np.float32))
    assert cache.get_many("model-b", ["x"]) == [None]
    got = cache.get_many("model-a", ["x", "y"])
    assert got[1] is None and got[0] is not None and got[0].tolist() == [1.0] * 4


def test_an_unusable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DRPO_EMBEDDING_CACHE", str(blocker / "embeddings.sqlite"))
    np.testing.assert_allclose(embed(TEXTS[:1]), _model_vectors(monkeypatch, TEXTS[:1]), atol=1e-6)


def test_served_queries_are_not_written(cache_file: Path) -> None:
    pool = [ICLExample(query=t, response=f"answer {i}") for i, t in enumerate(TEXTS)]
    model = AlignedChatModel(
        base_spec="fake", system_prompt="Be kind.", icl_examples=pool, k=1,
        embedding_model=DEFAULT_EMBEDDING_MODEL,
    )  # fmt: skip
    question = "My secret question about bread"
    assert model.retrieve(question) == [pool[0]]
    identity = model_identity()
    cache = EmbeddingCache(cache_file)
    assert cache.get_many(identity, [question]) == [None]
    assert all(v is not None for v in cache.get_many(identity, TEXTS))  # the pack's are kept
    embed([question], remember=False)
    assert cache.get_many(identity, [question]) == [None]
