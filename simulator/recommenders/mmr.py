"""Diversity-aware re-ranking (maximal marginal relevance) over any base recommender.

The base proposes ``candidates`` items per user; MMR then picks, one at a time, the item
that best trades relevance (its rank in the base list) against similarity (genre overlap)
to the items already picked. The filter-bubble scenario sets it against plain popularity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from simulator.dataset import Dataset
from simulator.recommenders.base import RecommenderConfig
from simulator.recommenders.rerank import Reranker


class MMRConfig(RecommenderConfig):
    """Args:
    base: The built-in recommender that proposes candidates.
    relevance: MMR's lambda: 1 is the base ranking, 0 is pure diversity.
    candidates: How many of the base's items are re-ranked.
    """

    base: str = "most-popular"
    relevance: float = Field(0.5, ge=0, le=1)
    candidates: int = Field(50, ge=1)


class MMRRecommender(Reranker):
    name = "mmr"

    def __init__(self, config: MMRConfig | None = None, *, seed: int | None = None) -> None:
        self.config = config or MMRConfig()
        super().__init__(self.config.base, self.config.candidates, seed=seed)
        self._genres: dict[str, np.ndarray] = {}

    def fit(self, data: Dataset) -> None:
        super().fit(data)
        vocab = sorted({g for gs in data.items["genres"] for g in gs})
        index = {g: i for i, g in enumerate(vocab)}
        self._genres = {}
        for item, genres in zip(data.items["item_id"], data.items["genres"], strict=True):
            v = np.zeros(max(1, len(vocab)))
            v[[index[g] for g in genres]] = 1.0
            norm = np.linalg.norm(v)
            self._genres[item] = v / norm if norm else v

    def save(self, path: str | Path) -> None:
        """The base's state in ``base/``, the genre vectors beside it."""
        super().save(path)
        items = sorted(self._genres)
        matrix = np.stack([self._genres[i] for i in items]) if items else np.zeros((0, 1))
        np.savez(Path(path) / "genres.npz", items=np.asarray(items, dtype=str), vectors=matrix)

    def load(self, path: str | Path) -> None:
        super().load(path)
        with np.load(Path(path) / "genres.npz", allow_pickle=False) as data:
            self._genres = {str(i): v for i, v in zip(data["items"], data["vectors"], strict=True)}

    def _rerank_all(self, pool: dict[str, list[str]], k: int) -> dict[str, list[str]]:
        return {user: self._rerank(items, k) for user, items in pool.items()}

    def _rerank(self, items: list[str], k: int) -> list[str]:
        if len(items) <= 1:
            return items[:k]
        vectors = np.stack([self._genres[i] for i in items])
        relevance = 1.0 - np.arange(len(items)) / len(items)
        similarity = vectors @ vectors.T
        chosen = [0]
        left = list(range(1, len(items)))
        lam = self.config.relevance
        while left and len(chosen) < k:
            redundancy = similarity[np.ix_(left, chosen)].max(axis=1)
            score = lam * relevance[left] - (1 - lam) * redundancy
            best = left[int(np.argmax(score))]
            chosen.append(best)
            left.remove(best)
        return [items[i] for i in chosen]
