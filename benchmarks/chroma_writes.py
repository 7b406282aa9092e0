"""Chroma's own write speed: records per second for one embedded collection.

The memory store's writer process can go no faster than Chroma's ``add``. This measures
``add`` alone, in Chroma's largest batches, with the vectors given (nothing embedded),
for what a memory record carries (ids, vectors, documents, metadata) and for less.

    python benchmarks/chroma_writes.py --records 20000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import chromadb
import numpy as np

from memory.chroma_functions import HashingFunction

PARTS = {
    "ids, vectors, documents, metadata": ("documents", "metadatas"),
    "ids, vectors, metadata": ("metadatas",),
    "ids, vectors, documents": ("documents",),
    "ids, vectors": (),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    n = args.records
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    columns = {
        "ids": [f"u{i % 1000}:{i}" for i in range(n)],
        "documents": [f'I watched "Film {i}", 4/5' for i in range(n)],
        "metadatas": [
            {"owner": f"u{i % 1000}", "created": i // 1000, "importance": 0.5} for i in range(n)
        ],
    }
    result = {}
    for label, extra in PARTS.items():
        with tempfile.TemporaryDirectory() as folder:
            client = chromadb.PersistentClient(path=folder)
            collection = client.get_or_create_collection(
                "memories",
                embedding_function=HashingFunction(256),
                configuration={"hnsw": {"space": "cosine"}},
            )
            batch = client.get_max_batch_size()
            started = time.perf_counter()
            for start in range(0, n, batch):
                part = slice(start, start + batch)
                given = {name: columns[name][part] for name in extra}
                collection.add(ids=columns["ids"][part], embeddings=vectors[part], **given)
            result[label] = round(n / (time.perf_counter() - started))
    print(json.dumps({"records": n, "batch": batch, "records_per_s": result}, indent=1))


if __name__ == "__main__":
    main()
