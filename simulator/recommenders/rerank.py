"""Re-rankers: a retriever proposes candidates, a re-ranker orders them (MMR, the LLM rankers).

The base is always a retriever (``simulator.recommenders.retrievers``), so building a
re-ranker never goes back through the full registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from simulator.dataset import Dataset
from simulator.recommenders.base import Recommender, RecommenderConfig
from simulator.recommenders.retrievers import make_retriever


class Reranker:
    """A recommender that re-orders a built-in base's candidates (MMR, the LLM rankers).

    It delegates learning and checkpoints to the base (saved under ``base/``); subclasses
    implement ``_rerank_all(pool, k)`` over every user's candidate list at once.
    """

    name = "reranker"
    config: RecommenderConfig

    def __init__(self, base: str, pool_size: int, *, seed: int | None) -> None:
        self.base: Recommender = make_retriever(base, seed=seed or 0)
        self.pool_size = pool_size

    def fit(self, data: Dataset) -> None:
        self.base.fit(data)

    def update(self, interactions: pd.DataFrame) -> None:
        self.base.update(interactions)

    def save(self, path: str | Path) -> None:
        self.base.save(Path(path) / "base")  # type: ignore[attr-defined]

    def load(self, path: str | Path) -> None:
        self.base.load(Path(path) / "base")  # type: ignore[attr-defined]

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, list[str]]:
        pool = self.base.recommend(
            user_ids, max(k, self.pool_size), exclude_seen=exclude_seen, candidates=candidates
        )
        return self._rerank_all(pool, k)

    def _rerank_all(self, pool: dict[str, list[str]], k: int) -> dict[str, list[str]]:
        raise NotImplementedError
