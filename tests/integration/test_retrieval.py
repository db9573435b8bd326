"""Retrieval tests against the real all-MiniLM-L6-v2 model and FAISS (offline)."""

from __future__ import annotations

import asyncio
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import retrieval.index as index_mod  # noqa: E402
from drpo.core.messages import ICLExample  # noqa: E402
from retrieval import (  # noqa: E402
    DEFAULT_EMBEDDING_MODEL,
    ICLIndex,
    aretrieve,
    embed,
    embedding_model_path,
    get_embedder,
    get_index,
)

pytestmark = pytest.mark.slow

POOL: list[ICLExample] = [
    ICLExample(
        query="How do I bake a loaf of sourdough bread at home?",
        response="Feed the starter, mix flour and water, proof overnight, bake hot.",
    ),
    ICLExample(
        query="How can I append items to a list in Python?",
        response="Use list.append(x) or list.extend(iterable).",
    ),
    ICLExample(
        query="What are the steps to change a flat tyre on my car?",
        response="Loosen the lug nuts, jack the car up, swap the wheel, tighten.",
    ),
    ICLExample(
        query="What caused the French Revolution of 1789?",
        response="Fiscal crisis, inequality under the Ancien Regime, Enlightenment ideas.",
    ),
    ICLExample(
        query="Is it a good idea to invest my savings in the stock market?",
        response="Diversify with low-cost index funds and invest for the long term.",
    ),
    ICLExample(
        query="How do I train my puppy to sit and stay?",
        response="Short sessions, treats as rewards, consistent commands.",
    ),
]
QUERIES = [
    "recipe tips for making homemade bread in the oven",
    "python: add an element to the end of a list",
]


def queries_of(rows: Sequence[ICLExample]) -> list[str]:
    return [r["query"] for r in rows]


@pytest.fixture(scope="module", autouse=True)
def no_embedding_cache() -> Iterator[None]:
    """These tests run the model itself: no vector is read back from the embedding cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRPO_EMBEDDING_CACHE", "off")
        yield


@pytest.fixture(scope="module")
def idx(no_embedding_cache: None) -> ICLIndex:
    get_embedder()  # load the model once for the module
    return ICLIndex.build(POOL)


def test_default_model_resolves_to_bundled_folder() -> None:
    path = Path(embedding_model_path())
    assert path.is_dir() and (path / "modules.json").is_file()
    assert embedding_model_path("all-MiniLM-L6-v2") == str(path)
    assert embedding_model_path("/some/other/model") == "/some/other/model"


def test_embedder_is_singleton_and_embeddings_normalised(idx: ICLIndex) -> None:
    assert get_embedder() is get_embedder()
    vectors = embed(["hello world", "a completely different sentence"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert idx.index.d == 384 and idx.index.ntotal == len(POOL)


def test_paraphrases_retrieve_the_right_example_first(idx: ICLIndex) -> None:
    bread, lists = idx.search(QUERIES[0], 2), idx.search(QUERIES[1], 2)
    assert bread[0] == POOL[0]
    assert lists[0] == POOL[1]
    assert len(bread) == len(lists) == 2 and bread[1] != bread[0]
    # Full ranking agrees with the cosine scores computed directly.
    qv, pv = embed(QUERIES[:1]), embed(queries_of(POOL))
    expected = [POOL[i] for i in np.argsort(-(pv @ qv[0]))]
    assert idx.search(QUERIES[0], len(POOL)) == expected
    # A tyre question should rank the car example above the bread one.
    tyre = queries_of(idx.search("my car has a puncture, how do I put the spare wheel on", 6))
    assert tyre[0] == POOL[2]["query"]
    assert tyre.index(POOL[2]["query"]) < tyre.index(POOL[0]["query"])


def test_search_many_matches_search(idx: ICLIndex) -> None:
    assert idx.search_many(QUERIES, 3) == [idx.search(q, 3) for q in QUERIES]
    assert idx.search_many([], 3) == []


def test_k_bounds_and_empty_pool(idx: ICLIndex) -> None:
    assert idx.search(QUERIES[0], 0) == []
    with pytest.raises(ValueError, match=r"k=7.*pool size 6"):
        idx.search(QUERIES[0], len(POOL) + 1)
    with pytest.raises(ValueError, match="k=-1"):
        idx.search_many(QUERIES, -1)
    with pytest.raises(ValueError, match="empty"):
        ICLIndex.build([])


def test_disk_cache_round_trip(
    idx: ICLIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ICLIndex.build(POOL, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"{first.pool_hash}.faiss", f"{first.pool_hash}.json"]

    calls: list[list[str]] = []
    real_embed = index_mod.embed

    def counting_embed(
        texts: Sequence[str], model_id: str = DEFAULT_EMBEDDING_MODEL, remember: bool = True
    ) -> np.ndarray:
        calls.append(list(texts))
        return real_embed(texts, model_id, remember)

    monkeypatch.setattr(index_mod, "embed", counting_embed)
    second = ICLIndex.build(POOL, cache_dir=tmp_path)
    assert calls == []  # pool was not re-embedded: loaded from disk
    assert second.pool_hash == first.pool_hash and second.index.ntotal == len(POOL)
    assert second.search_many(QUERIES, 3) == first.search_many(QUERIES, 3)
    assert calls == [QUERIES, QUERIES]  # only the queries were embedded

    changed = ICLIndex.build([*POOL[:-1], ICLExample(query="q?", response="r")], cache_dir=tmp_path)
    assert changed.pool_hash != first.pool_hash
    assert (tmp_path / f"{changed.pool_hash}.faiss").is_file()
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_corrupt_cache_is_rebuilt(idx: ICLIndex, tmp_path: Path) -> None:
    first = ICLIndex.build(POOL, cache_dir=tmp_path)
    (tmp_path / f"{first.pool_hash}.json").write_text("{not json", encoding="utf-8")
    again = ICLIndex.build(POOL, cache_dir=tmp_path)
    assert again.search(QUERIES[0], 1) == [POOL[0]]


def test_get_index_memoises(idx: ICLIndex) -> None:
    a = get_index(POOL)
    assert get_index([ICLExample(**e) for e in POOL]) is a
    assert get_index(POOL[:3]) is not a


def test_aretrieve_matches_search_many(idx: ICLIndex) -> None:
    got = asyncio.run(aretrieve(POOL, QUERIES, 2))
    assert got == get_index(POOL).search_many(QUERIES, 2)
    assert [row[0] for row in got] == [POOL[0], POOL[1]]
