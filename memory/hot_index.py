"""An in-process vector index per owner: the fast path of every store.

Chroma's filtered query costs about 40 ms, far too slow per agent per step, so stores keep
active owners' memories here as numpy arrays and score them in one matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from memory.records import MemoryRecord, ScoredMemory
from memory.scoring import (
    ForgettingConfig,
    ScoringWeights,
    recency,
    relevance,
    retention,
    retrieval_score,
)


class OwnerIndex:
    """One owner's records, embeddings, importance and access times, side by side.

    The arrays grow by doubling, so a step's few new records per owner cost amortised
    constant time instead of a copy of everything stored so far.
    """

    __slots__ = ("_buffers", "_size", "records")

    def __init__(self, dim: int) -> None:
        self.records: list[MemoryRecord] = []
        self._size = 0
        self._buffers = (
            np.zeros((0, dim), dtype=np.float32),  # vectors
            np.zeros(0),  # importance
            np.zeros(0),  # last access
            np.zeros(0, dtype=bool),  # forgotten
        )

    @property
    def vectors(self) -> np.ndarray:
        return self._buffers[0][: self._size]

    @property
    def importance(self) -> np.ndarray:
        return self._buffers[1][: self._size]

    @property
    def last_access(self) -> np.ndarray:
        return self._buffers[2][: self._size]

    @property
    def forgotten(self) -> np.ndarray:
        return self._buffers[3][: self._size]

    def extend(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        start, end = self._size, self._size + len(records)
        if end > len(self._buffers[1]):
            capacity = max(8, 2 * end)
            self._buffers = tuple(_resized(b, capacity) for b in self._buffers)
        vecs, imp, last, gone = self._buffers
        vecs[start:end] = vectors
        imp[start:end] = [r.importance for r in records]
        last[start:end] = [r.last_access for r in records]
        gone[start:end] = [r.forgotten for r in records]
        self._size = end
        self.records.extend(records)

    def score(
        self, query: np.ndarray, now: int, weights: ScoringWeights
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recency, relevance and total score of every record, touching nothing."""
        rec = recency(now, self.last_access, weights.decay)
        rel = relevance(self.vectors @ query)
        return rec, rel, retrieval_score(rec, self.importance, rel, weights)

    def top_k(
        self, query: np.ndarray, k: int, now: int, weights: ScoringWeights
    ) -> list[ScoredMemory]:
        """Score every live record against ``query``; touch and return the best ``k``."""
        if not self.records or k <= 0:
            return []
        rec, rel, score = self.score(query, now, weights)
        score[self.forgotten] = -np.inf
        k = min(k, len(self.records) - int(self.forgotten.sum()))
        if k == 0:
            return []
        top = np.argpartition(-score, k - 1)[:k]
        top = top[np.lexsort((top, -score[top]))]
        hits = [
            ScoredMemory(
                self.records[i],
                float(score[i]),
                float(rec[i]),
                float(self.importance[i]),
                float(rel[i]),
            )
            for i in top
        ]
        self.last_access[top] = now
        for i in top:
            self.records[i] = replace(self.records[i], last_access=now)
        return hits

    def forget(self, now: int, config: ForgettingConfig) -> list[MemoryRecord]:
        """Mark records whose retention fell below the threshold; return the newly marked."""
        if not self.records:
            return []
        faded = retention(now, self.last_access, self.importance, config) < config.threshold
        newly = np.flatnonzero(faded & ~self.forgotten)
        self.forgotten[newly] = True
        for i in newly:
            self.records[i] = replace(self.records[i], forgotten=True)
        return [self.records[i] for i in newly]

    def snapshot(self) -> list[MemoryRecord]:
        return list(self.records)


def _resized(buffer: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *buffer.shape[1:]), dtype=buffer.dtype)
    grown[: len(buffer)] = buffer
    return grown
