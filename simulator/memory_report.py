"""Read a finished run's memory store, for ``recworld memory show``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from memory.embedders import make_embedder
from memory.scoring import ForgettingConfig, ScoringWeights, retention
from simulator.errors import RecworldError


def describe_memories(
    run_dir: str | Path, owner: str, query: str | None = None
) -> tuple[pd.DataFrame, int]:
    """Every record of ``owner`` with recency, retention and, given a query, its score.

    Nothing is touched: scoring here does not refresh access times.
    """
    run = Path(run_dir)
    config_path = run / "config.yaml"
    if not config_path.exists():
        raise RecworldError(f"{config_path}: not found; is {run} a recworld run directory?")
    memory = (yaml.safe_load(config_path.read_text()) or {}).get("memory", {})
    if memory.get("backend") != "chroma" or not (run / "memory").exists():
        raise RecworldError(
            f"{run}: this run kept no memory store (memory.backend was "
            f"{memory.get('backend')!r}); rerun with memory.backend: chroma"
        )
    from memory.chroma_store import ChromaStore

    weights = ScoringWeights(**memory.get("weights", {}))
    forgetting = ForgettingConfig(**memory.get("stream", {}).get("forgetting", {}))
    store = ChromaStore(
        run / "memory",
        embedder=make_embedder(memory.get("embedder", "minilm")),
        weights=weights,
        background=False,
    )
    try:
        index = store.index(owner)
        if index is None or not index.records:
            known = store.owners()
            raise RecworldError(
                f"{run}: no memories for {owner!r}; owners include {', '.join(known[:8])}"
            )
        now = _last_step(run, index.last_access)
        query_vector = store.embedder.embed([query or ""])[0]
        recency, relevance, score = index.score(query_vector, now, weights)
        frame = pd.DataFrame(
            {
                "id": [r.id for r in index.records],
                "kind": [str(r.kind) for r in index.records],
                "created": [r.created for r in index.records],
                "last_access": index.last_access.astype(int),
                "importance": index.importance,
                "recency": recency,
                "retention": retention(now, index.last_access, index.importance, forgetting),
                "forgotten": index.forgotten,
                "text": [r.text for r in index.records],
            }
        )
        if query:
            frame.insert(5, "relevance", relevance)
            frame.insert(6, "score", score)
            frame = frame.sort_values("score", ascending=False, kind="stable")
        else:
            frame = frame.sort_values(["last_access", "importance"], ascending=False, kind="stable")
        return frame.reset_index(drop=True), now
    finally:
        store.close()


def _last_step(run: Path, last_access: np.ndarray) -> int:
    metrics = run / "metrics.parquet"
    if metrics.exists():
        steps = pd.read_parquet(metrics, columns=["step"])["step"]
        if len(steps):
            return int(steps.max())
    return int(last_access.max()) if len(last_access) else 0
