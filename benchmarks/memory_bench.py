"""Memory store throughput: 1,000 agents x 200 memories, then one step's retrieval.

Reports the add throughput (into the hot index, and until durable: in the Chroma store's
journal on disk, or, in memory, at once), the time of one batched search for 1,000 active
agents, resident memory per agent, how long ``close`` waits, and for Chroma how long the
next open takes to apply what its writer had not applied by the close.
Vectors have 384 dimensions, as all-MiniLM-L6-v2's do, from the hashing embedder, so the
numbers measure the store rather than the model; MiniLM's own throughput is reported
separately with --minilm.

    python benchmarks/memory_bench.py --agents 1000 --per-agent 200
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from memory import HashingEmbedder, InMemoryStore, MemoryRecord
from memory.chroma_store import ChromaStore

WORDS = (
    "space western noir comedy drama jazz love war heist robot ocean city mystery horror "
    "family sequel classic slow loud warm funny sad brilliant boring tense gentle"
).split()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def records(agents: int, per_agent: int, rng: np.random.Generator) -> list[MemoryRecord]:
    out = []
    for step in range(per_agent):
        for a in range(agents):
            text = " ".join(rng.choice(WORDS, size=8))
            out.append(
                MemoryRecord(
                    id=f"u{a}:{step}",
                    owner=f"u{a}",
                    text=f"I watched a {text}",
                    created=step,
                    last_access=step,
                    importance=float(rng.random()),
                )
            )
    return out


def bench(store, recs, agents: int, batch: int) -> dict[str, float]:
    before = rss_mb()
    start = time.perf_counter()
    for i in range(0, len(recs), batch):
        store.add(recs[i : i + batch])
    hot = time.perf_counter() - start
    store.sync()
    durable = time.perf_counter() - start
    after = rss_mb()
    owners = [f"u{a}" for a in range(agents)]
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(WORDS, size=10)) for _ in owners]
    times = []
    for step in range(3):
        t = time.perf_counter()
        hits = store.search(owners, queries, 5, now=1000 + step)
        times.append(time.perf_counter() - t)
    assert all(len(h) == 5 for h in hits)
    return {
        "add_hot_per_s": len(recs) / hot,
        "add_durable_per_s": len(recs) / durable,
        "search_s": float(np.median(times)),
        "rss_per_agent_kb": (after - before) * 1024 / agents,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--per-agent", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=5000, help="records per add (a step)")
    parser.add_argument("--minilm", action="store_true", help="also time MiniLM embedding")
    args = parser.parse_args()
    recs = records(args.agents, args.per_agent, np.random.default_rng(0))
    print(
        f"{args.agents} agents x {args.per_agent} memories = {len(recs):,} records, dim {args.dim}"
    )
    embedder = HashingEmbedder(args.dim)
    for name, make in (
        ("in-memory", lambda _: InMemoryStore(embedder)),
        ("chroma (background writer)", lambda d: ChromaStore(d, embedder=embedder)),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            store = make(tmp)
            r = bench(store, recs, args.agents, args.batch)
            started = time.perf_counter()
            store.close()
            r["close_s"] = time.perf_counter() - started
            if isinstance(store, ChromaStore):
                started = time.perf_counter()
                ChromaStore(tmp, embedder=embedder, background=False).close()
                r["reopen_s"] = time.perf_counter() - started
        print(
            f"{name:28s} add {r['add_hot_per_s']:>10,.0f}/s into the hot index, "
            f"{r['add_durable_per_s']:>8,.0f}/s until durable; "
            f"search for {args.agents} agents {r['search_s'] * 1e3:6.0f} ms; "
            f"resident {r['rss_per_agent_kb']:6.0f} KB/agent; close {r['close_s']:.2f} s"
            + (f"; reopen (applies the rest) {r['reopen_s']:.1f} s" if "reopen_s" in r else "")
        )
    if args.minilm:
        from memory.embedders import MiniLMEmbedder

        minilm = MiniLMEmbedder()
        minilm.embed(["warm up"])
        texts = [r.text for r in recs[:1000]]
        t = time.perf_counter()
        minilm.embed(texts)
        print(f"MiniLM embedding: {len(texts) / (time.perf_counter() - t):,.0f} texts/s")


if __name__ == "__main__":
    main()
