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
    """One owner's records, embeddings, importance and access times, side by side."""

    __slots__ = ("forgotten", "importance", "last_access", "records", "vectors")

    def __init__(self, dim: int) -> None:
        self.records: list[MemoryRecord] = []
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.importance = np.zeros(0)
        self.last_access = np.zeros(0)
        self.forgotten = np.zeros(0, dtype=bool)

    def extend(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        self.records.extend(records)
        self.vectors = np.vstack([self.vectors, vectors.astype(np.float32, copy=False)])
        self.importance = np.concatenate([self.importance, [r.importance for r in records]])
        self.last_access = np.concatenate([self.last_access, [r.last_access for r in records]])
        self.forgotten = np.concatenate([self.forgotten, [r.forgotten for r in records]])

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
