"""One agent's memories in a finished run, scored, for ``recworld memory show``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from memory.scoring import retention
from simulator.errors import RecworldError
from simulator.rundir import FinishedRun

if TYPE_CHECKING:
    from memory.chroma_store import ChromaStore


def check_memory_store(run: FinishedRun) -> None:
    """Raise unless the run kept an embedded memory store to read back.

    Raises:
        RecworldError: The run kept its memories in memory (or on a server), naming the
            setting to change.
    """
    backend = run.config.memory.backend
    if backend != "chroma" or not (run.dir / "memory").exists():
        raise RecworldError(
            f"{run.dir}: this run kept no memory store (memory.backend was {backend!r}); "
            "rerun with memory.backend: chroma"
        )


def describe_memories(
    run: FinishedRun, store: ChromaStore, owner: str, query: str | None = None
) -> tuple[pd.DataFrame, int]:
    """Every record of ``owner`` with recency, retention and, given a query, its score.

    Args:
        run: The finished run (its configuration gives the scoring weights and forgetting).
        store: Its memory store, opened without a background writer.

    Nothing is touched: scoring here does not refresh access times.
    """
    weights = run.config.memory.weights
    forgetting = run.config.memory.stream.forgetting
    index = store.index(owner)
    if index is None or not index.records:
        known = store.owners()
        users = [o for o in known if not o.startswith("item:")]
        items = [o for o in known if o.startswith("item:")]
        raise RecworldError(
            f"{run.dir}: no memories for {owner!r}; its {len(users)} users include "
            f"{', '.join(users[:6]) or 'none'} and its {len(items)} items "
            f"{', '.join(items[:2]) or 'none'} (pass one as --user)"
        )
    now = run.steps or (int(index.last_access.max()) if len(index.last_access) else 0)
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
