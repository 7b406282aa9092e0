"""Content-based recommendation: item-text embeddings against a user's taste profile.

It needs no interactions on an item to score it, so new (cold-start) items are ranked as
soon as they have text, which collaborative models cannot do.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from simulator.dataset import Dataset, rating_scale
from simulator.ratings import FIVE_STARS
from simulator.recommenders.base import RecommenderConfig
from simulator.recommenders.knn import MatrixRecommender


class ContentConfig(RecommenderConfig):
    """Args:
    profile: How a user's history becomes one vector; ``centroid`` is the mean of the
        embeddings of the items they liked.
    embedder: ``hashing`` (no model, instant) or ``minilm`` (sentence embeddings).
    like_threshold: Ratings at or above this count as liked; unrated interactions
        (implicit feedback) always do. None: three quarters up the fitted data's rating
        scale (``RatingScale.liked``: 4 of 1-5 stars, 8 of 1-10).
    """

    profile: Literal["centroid"] = "centroid"
    embedder: Literal["hashing", "minilm"] = "hashing"
    like_threshold: float | None = None


def item_texts(items: pd.DataFrame) -> list[str]:
    """Title, genres and description in one string per item, the text that is embedded."""
    out = []
    for title, genres, description in zip(
        items["title"], items["genres"], items["description"], strict=True
    ):
        out.append(" ".join([str(title), *map(str, genres or ()), str(description or "")]))
    return out


class ContentRecommender(MatrixRecommender):
    """Cosine between each item's text embedding and the centroid of the user's liked items.

    Users whose history holds nothing liked fall back to all their items; users with no
    history get popularity. ``update`` moves the profile at once (no retraining).
    """

    name = "content"
    config_class = ContentConfig
    config: ContentConfig

    def __init__(self, config: ContentConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(config, seed=seed)
        self._embeddings = np.zeros((0, 0), dtype=np.float32)
        self._liked = sp.csr_matrix((0, 0), dtype=np.float32)
        self._like_at = FIVE_STARS.liked  # set from the data by ``fit``

    def fit(self, data: Dataset) -> None:
        from memory.embedders import make_embedder

        # float32: the catalogue embeds once, and recommendations stay the same on any CPU.
        embedder = make_embedder(self.config.embedder, "float32")
        self._embeddings = np.asarray(embedder.embed(item_texts(data.items)), dtype=np.float32)
        self._liked = sp.csr_matrix((0, len(data.item_ids)), dtype=np.float32)
        # A run logs simulated ratings on the data's scale, stars for data without one.
        given = self.config.like_threshold
        self._like_at = given if given is not None else (rating_scale(data) or FIVE_STARS).liked
        super().fit(data)

    def _train(self) -> None:
        """Nothing to learn beyond the liked matrix ``_learn`` keeps."""

    def _fit(self, interactions: pd.DataFrame) -> None:
        super()._fit(interactions)
        self._learn(interactions, np.array([], dtype=np.int64))

    def _learn(self, interactions: pd.DataFrame, touched: np.ndarray) -> None:
        rating = interactions["rating"]
        liked = interactions[rating.isna() | (rating >= self._like_at)]
        cols = liked["item_id"].map(self._item_index)
        known = cols.notna().to_numpy()
        rows = np.fromiter(
            (self._user_index[u] for u in liked["user_id"].to_numpy()[known]), dtype=np.int64
        )
        shape = (len(self.user_ids), len(self.item_ids))
        new = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols[known].astype(int).to_numpy())),
            shape=shape,
        )
        old = self._liked
        old.resize(shape)
        merged = (old + new).tocsr()
        merged.data[:] = 1.0
        self._liked = merged

    def _known_scores(self, rows: np.ndarray) -> np.ndarray:
        liked = self._liked[rows]
        empty = np.asarray(liked.sum(axis=1)).ravel() == 0
        # Users who liked nothing are profiled by everything they chose instead.
        liked = liked + sp.diags(empty.astype(np.float32)) @ self._matrix[rows]
        profile = np.asarray(liked @ self._embeddings)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        np.divide(profile, norms, out=profile, where=norms > 0)
        scores = profile @ self._embeddings.T
        pop = self._popularity / max(self._popularity.max(), 1.0)
        return scores + 1e-6 * pop

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "embeddings": self._embeddings,
            "liked_indptr": self._liked.indptr,
            "liked_indices": self._liked.indices,
            "like_at": np.array([self._like_at]),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._embeddings = arrays["embeddings"]
        if "like_at" in arrays:
            self._like_at = float(arrays["like_at"][0])
        else:  # a checkpoint from before the threshold followed the data's scale
            given = self.config.like_threshold
            self._like_at = given if given is not None else FIVE_STARS.liked
        indices = arrays["liked_indices"]
        self._liked = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, arrays["liked_indptr"]),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
