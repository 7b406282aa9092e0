"""Memory embedders: speed, and how often each one's top memories match MiniLM's.

Memories are what a run writes (``I watched "Title", 4/5`` for each user's rated films,
the latest ``--memories`` of them); queries are what a run recalls with (the titles of a
page of ten unseen films). For every user and query, each embedder's top 5 memories by
cosine are compared with MiniLM's in float32: ``overlap`` is the mean share of MiniLM's
top 5 that the embedder also returns. ``minilm:bfloat16`` is MiniLM under bfloat16
autocast (the ``auto`` precision on CPUs with native bfloat16).

    python benchmarks/embedder_bench.py ../shared/data/ml-100k --users 200
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from memory.embedders import make_embedder
from simulator.compose import load_config_dataset
from simulator.config import DatasetSpec

TOP = 5


def memories_and_queries(dataset, users: int, memories: int, queries: int, seed: int):
    rng = np.random.default_rng(seed)
    titles = dataset.items.set_index(dataset.items["item_id"].astype(str))["title"]
    inter = dataset.interactions.astype({"user_id": str, "item_id": str})
    chosen = rng.choice(inter["user_id"].unique(), size=users, replace=False)
    catalogue = titles.index.to_numpy()
    out = []
    for user in chosen:
        rows = inter[inter["user_id"] == user].sort_values("timestamp").tail(memories)
        texts = [
            f'I watched "{titles[i]}", {r:g}/5'
            for i, r in zip(rows["item_id"], rows["rating"], strict=True)
        ]
        pages = [
            " ".join(titles[i] for i in rng.choice(catalogue, size=10, replace=False))
            for _ in range(queries)
        ]
        out.append((texts, pages))
    return out


def top(memory: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.argsort(-(query @ memory.T), axis=1, kind="stable")[:, :TOP]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--memories", type=int, default=50)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedders", default="minilm:bfloat16,minilm-static,hashing")
    args = parser.parse_args()
    dataset = load_config_dataset(DatasetSpec(kind="movielens-100k", path=args.data))
    cases = memories_and_queries(dataset, args.users, args.memories, args.queries, args.seed)
    texts = [t for memory, pages in cases for t in (*memory, *pages)]
    result: dict[str, dict[str, float]] = {}
    make_embedder("minilm", "float32").embed(texts[:8])  # load the model before timing
    names = ["minilm:float32", *args.embedders.split(",")]
    tops: dict[str, list[np.ndarray]] = {}
    for name in names:
        embedder = make_embedder(*name.split(":"))
        embedder.embed(texts[:8])
        started = time.perf_counter()
        vectors = embedder.embed(texts)
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        embedder.embed(texts)
        repeat = time.perf_counter() - again
        at = 0
        tops[name] = []
        for memory, pages in cases:
            m = vectors[at : at + len(memory)]
            q = vectors[at + len(memory) : at + len(memory) + len(pages)]
            at += len(memory) + len(pages)
            tops[name].append(top(m, q))
        result[name] = {
            "texts": len(texts),
            "texts_per_s": len(texts) / seconds,
            "texts_per_s_repeated": len(texts) / max(repeat, 1e-9),
        }
    for name in names[1:]:
        shares = [
            len(set(a) & set(b)) / TOP
            for ref, got in zip(tops["minilm:float32"], tops[name], strict=True)
            for a, b in zip(ref, got, strict=True)
        ]
        result[name]["top5_overlap"] = float(np.mean(shares))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
