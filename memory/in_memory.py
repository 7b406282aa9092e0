"""A store that lives only in the process: for tests and throwaway runs."""

from __future__ import annotations

from collections.abc import Sequence

from memory.embedders import Embedder, HashingEmbedder
from memory.hot_index import OwnerIndex
from memory.records import MemoryRecord, ScoredMemory
from memory.scoring import ScoringWeights


class InMemoryStore:
    """Every owner's records in an ``OwnerIndex``; nothing is persisted.

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

    def add(self, records: Sequence[MemoryRecord]) -> None:
        if not records:
            return
        dupes = [r.id for r in records if r.id in self._ids]
        if dupes:
            raise ValueError(f"memory ids already stored: {dupes[:3]}; ids must be unique")
        vectors = self.embedder.embed([r.text for r in records])
        by_owner: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_owner.setdefault(r.owner, []).append(i)
        for owner, rows in by_owner.items():
            index = self._owners.setdefault(owner, OwnerIndex(self.embedder.dim))
            index.extend([records[i] for i in rows], vectors[rows])
        self._ids.update(r.id for r in records)

    def search(
        self, owner_ids: Sequence[str], queries: Sequence[str], k: int, now: int
    ) -> list[list[ScoredMemory]]:
        if len(owner_ids) != len(queries):
            raise ValueError(
                f"search got {len(owner_ids)} owners but {len(queries)} queries; pass one each"
            )
        if not owner_ids:
            return []
        vectors = self.embedder.embed(list(queries))
        out: list[list[ScoredMemory]] = []
        for owner, vector in zip(owner_ids, vectors, strict=True):
            index = self._owners.get(owner)
            out.append(index.top_k(vector, k, now, self.weights) if index else [])
        return out

    def records(self, owner: str) -> list[MemoryRecord]:
        index = self._owners.get(owner)
        return index.snapshot() if index else []

    def close(self) -> None:
        self._owners.clear()
        self._ids.clear()
