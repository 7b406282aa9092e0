"""The hot-index store: every owner's records as numpy arrays in this process.

Used alone it is the in-memory store for tests and throwaway runs; ``ChromaStore`` extends
it with write-through to Chroma through three hooks (load, added, changed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memory.embedders import Embedder, HashingEmbedder
from memory.hot_index import OwnerIndex
from memory.records import MemoryRecord, ScoredMemory
from memory.scoring import ForgettingConfig, ScoringWeights


class InMemoryStore:
    """Batched add and search over per-owner hot indexes; nothing is persisted.

    Args:
        embedder: Embeds record texts and queries, in batches.
        weights: Retrieval weights and recency decay.
    """

    def __init__(
        self, embedder: Embedder | None = None, weights: ScoringWeights | None = None
    ) -> None:
        self.embedder = embedder or HashingEmbedder()
        self.weights = weights or ScoringWeights()
        self._owners: dict[str, OwnerIndex] = {}
        self._ids: set[str] = set()

    def add(self, records: Sequence[MemoryRecord], vectors: np.ndarray | None = None) -> None:
        """Write many records; pass ``vectors`` when they are already embedded."""
        if not records:
            return
        self._ensure_loaded(list(dict.fromkeys(r.owner for r in records)))
        ids = [r.id for r in records]
        dupes = [i for i in ids if i in self._ids]
        if dupes or len(set(ids)) < len(ids):
            raise ValueError(f"memory ids already stored: {dupes[:3]}; ids must be unique")
        if vectors is None:
            vectors = self.embedder.embed([r.text for r in records])
        by_owner: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_owner.setdefault(r.owner, []).append(i)
        for owner, rows in by_owner.items():
            self._index(owner).extend([records[i] for i in rows], vectors[rows])
        self._ids.update(ids)
        self._added(records, vectors)

    def search(
        self, owner_ids: Sequence[str], queries: Sequence[str], k: int, now: int
    ) -> list[list[ScoredMemory]]:
        if len(owner_ids) != len(queries):
            raise ValueError(
                f"search got {len(owner_ids)} owners but {len(queries)} queries; pass one each"
            )
        if not owner_ids:
            return []
        self._ensure_loaded(list(dict.fromkeys(owner_ids)))
        vectors = self.embedder.embed(list(queries))
        out: list[list[ScoredMemory]] = []
        for owner, vector in zip(owner_ids, vectors, strict=True):
            index = self._owners.get(owner)
            hits = index.top_k(vector, k, now, self.weights) if index else []
            self._changed([h.record for h in hits], now)
            out.append(hits)
        return out

    def records(self, owner: str) -> list[MemoryRecord]:
        """Every record of one owner, forgotten ones included, oldest first."""
        self._ensure_loaded([owner])
        index = self._owners.get(owner)
        return index.snapshot() if index else []

    def forget(self, now: int, config: ForgettingConfig) -> int:
        """Mark faded records forgotten in every loaded owner; returns how many."""
        if not config.enabled:
            return 0
        marked = [r for index in self._owners.values() for r in index.forget(now, config)]
        self._changed(marked, None)
        return len(marked)

    def index(self, owner: str) -> OwnerIndex | None:
        """One owner's hot index (loaded from storage if needed), for inspection."""
        self._ensure_loaded([owner])
        return self._owners.get(owner)

    def flush(self) -> None:
        """Hand queued writes to storage without waiting; nothing to do in memory."""

    def sync(self) -> None:
        """Wait until every write is durable; nothing to do in memory."""

    def close(self) -> None:
        self._owners.clear()
        self._ids.clear()

    def _index(self, owner: str) -> OwnerIndex:
        index = self._owners.get(owner)
        if index is None:
            index = self._owners[owner] = OwnerIndex(self.embedder.dim)
        return index

    # Hooks for persistent subclasses.
    def _ensure_loaded(self, owners: list[str]) -> None:
        """Bring owners stored by an earlier process into the hot index."""

    def _added(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        """New records were indexed."""

    def _changed(self, records: Sequence[MemoryRecord], now: int | None) -> None:
        """Records' access time (``now``) or forgotten mark changed."""
