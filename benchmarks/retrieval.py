"""Benchmark 4: retrieval. FAISS top-K latency per query and index build time for ICL pools of
1k, 10k and 100k examples (synthetic texts). The 1k pool is embedded with the real embedding
model (all-MiniLM-L6-v2) through ``ICLIndex.build``; 10k and 100k use random unit vectors of the
same dimension in the same index type (``IndexFlatIP``, exact cosine search).

    python -m benchmarks retrieval
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import faiss
import numpy as np

from benchmarks.common import write_result
from drpo.core.messages import ICLExample
from retrieval.embeddings import embed
from retrieval.index import ICLIndex

K = 2  # the paper's K
QUERIES = 200
TOPICS = ["a budget", "a garden", "a cover letter", "sourdough", "a marathon", "a database"]
ASKS = ["How do I plan", "What is the best way to improve", "Can you explain", "Help me fix"]


def synthetic_pool(n: int, rng: random.Random) -> list[ICLExample]:
    return [
        ICLExample(
            query=f"{rng.choice(ASKS)} {rng.choice(TOPICS)} for case {i} "
            f"in {rng.randint(1, 99)} steps?",
            response=f"Answer {i}.",
        )
        for i in range(n)
    ]


def time_searches(index: faiss.Index, queries: np.ndarray) -> dict[str, float]:
    """One query at a time (as a level searches its few queries), with FAISS's default
    OpenMP threads and with one thread (threads only add overhead to a single query)."""
    out = {}
    default = faiss.omp_get_max_threads()
    for label, threads in (("", default), ("_1_thread", 1)):
        faiss.omp_set_num_threads(threads)
        times = []
        for row in queries:
            start = time.perf_counter()
            index.search(row[None, :], K)
            times.append(time.perf_counter() - start)
        times.sort()
        out[f"ms_per_query_median{label}"] = round(1000 * statistics.median(times), 3)
        out[f"ms_per_query_p95{label}"] = round(1000 * times[int(0.95 * len(times))], 3)
    faiss.omp_set_num_threads(default)
    return out


def measure() -> dict[str, Any]:
    rng = random.Random(0)
    out: dict[str, Any] = {"K": K, "queries": QUERIES, "faiss_threads": faiss.omp_get_max_threads()}
    pool = synthetic_pool(1000, rng)
    embed(["warm up"])  # load the embedding model outside the timings
    start = time.perf_counter()
    built = ICLIndex.build(pool)
    build_s = time.perf_counter() - start
    texts = [e["query"] for e in synthetic_pool(QUERIES, rng)]
    start = time.perf_counter()
    vectors = embed(texts)
    embed_ms = 1000 * (time.perf_counter() - start) / QUERIES
    start = time.perf_counter()
    for text in texts[:50]:
        built.search(text, K)
    end_to_end_ms = 1000 * (time.perf_counter() - start) / 50
    out["1k"] = {
        "vectors": "all-MiniLM-L6-v2",
        "build_s_with_embedding": round(build_s, 3),
        **time_searches(built.index, vectors),
        "embed_ms_per_query_batched": round(embed_ms, 3),
        "ms_per_query_end_to_end": round(end_to_end_ms, 3),  # embed one query + search
    }
    dim = built.index.d
    gen = np.random.default_rng(0)
    for n, label in ((10_000, "10k"), (100_000, "100k")):
        data = gen.standard_normal((n, dim), dtype=np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        queries = gen.standard_normal((QUERIES, dim), dtype=np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        start = time.perf_counter()
        index = faiss.IndexFlatIP(dim)
        index.add(data)
        build = time.perf_counter() - start
        out[label] = {
            "vectors": "random unit",
            "build_s": round(build, 4),
            **time_searches(index, queries),
        }
    out["target_ms_per_query_100k"] = 5.0
    return out


def main() -> dict[str, Any]:
    data = measure()
    for label in ("1k", "10k", "100k"):
        row = data[label]
        build = row.get("build_s_with_embedding", row.get("build_s"))
        print(
            f"retrieval {label}: build {build} s, top-{K} search median "
            f"{row['ms_per_query_median']} ms/query ({row['ms_per_query_median_1_thread']} ms "
            f"with 1 thread; p95 {row['ms_per_query_p95']} ms)"
        )
    print(f"1k end to end (embed the query + search): {data['1k']['ms_per_query_end_to_end']} ms")
    write_result("retrieval", data)
    return data


if __name__ == "__main__":
    main()
