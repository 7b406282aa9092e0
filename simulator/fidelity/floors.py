"""The floors: recommenders answering the fidelity cases, so agents have a bar to clear.

A floor scores candidates with the recommender's own ranking (best = 1). It has no yes/no
threshold, so in taste discrimination it is told the base rate and says yes to its top
share. Ratings come from the simplest model of each kind: uniform over the scale's levels
for random, the item's mean training rating for popularity, and the classic item-based CF
prediction (the user's ratings of the most similar items, weighted by similarity) for
item-kNN; a predicted rating is put on the nearest level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from simulator.dataset import Dataset
from simulator.ratings import nearest_level
from simulator.recommenders import make_recommender

FLOORS = ("random", "most-popular", "item-knn")
NEIGHBOURS = 20


class RecommenderFloor:
    """A built-in recommender as a fidelity subject."""

    has_threshold = False

    def __init__(self, name: str, *, seed: int = 0) -> None:
        if name not in FLOORS:
            raise ValueError(f"unknown floor {name!r}; choose from {', '.join(FLOORS)}")
        self.name = name
        self.seed = seed
        self.recommender = make_recommender(name, seed=seed)
        self._rng = np.random.default_rng(seed)

    def fit(self, train: Dataset) -> None:
        self.recommender.fit(train)
        inter = train.interactions[train.interactions["rating"].notna()]
        self._item_mean = inter.groupby("item_id")["rating"].mean()
        self._global_mean = float(inter["rating"].mean()) if len(inter) else float("nan")
        if self.name == "item-knn" and len(inter):
            self._fit_neighbours(inter, train.item_ids)

    def judge(self, pairs: pd.DataFrame) -> np.ndarray:
        scores = np.zeros(len(pairs))
        positions = pd.Series(np.arange(len(pairs)), index=pairs.index)
        for user, rows in pairs.groupby("user_id", sort=False):
            ranked = self._score(user, rows["item_id"].tolist())
            scores[positions[rows.index].to_numpy()] = ranked
        return scores

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        return [self._score(user, list(items)) for user, items in groups]

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
        levels = np.asarray(levels, float)
        if self.name == "random":
            return np.full((len(pairs), len(levels)), 1.0 / len(levels))
        if self.name == "most-popular":
            predicted = pairs["item_id"].map(self._item_mean).fillna(self._global_mean)
        else:
            predicted = pd.Series(
                [
                    self._knn_rating(u, i)
                    for u, i in zip(pairs["user_id"], pairs["item_id"], strict=True)
                ],
                index=pairs.index,
            )
        middle = (levels[0] + levels[-1]) / 2  # no rating to go on at all
        snapped = nearest_level(predicted.fillna(middle).to_numpy(float), levels)
        return np.eye(len(levels))[np.searchsorted(levels, snapped)]

    def _score(self, user: str, items: list[str]) -> np.ndarray:
        """1 for the item the recommender ranks first among ``items``, falling linearly."""
        order = self.recommender.recommend(
            [user], len(items), candidates=items, exclude_seen=False
        )[user]
        rank = {item: r for r, item in enumerate(order)}
        return np.array([1.0 - rank.get(i, len(items)) / len(items) for i in items])

    def _fit_neighbours(self, inter: pd.DataFrame, item_ids: Sequence[str]) -> None:
        """Binary user × item columns; similarities are computed per prediction, so a large
        catalogue never needs a dense item × item matrix."""
        inter = inter.drop_duplicates(["user_id", "item_id"], keep="last")
        self._items = pd.Index([str(i) for i in item_ids])
        users = pd.Index(inter["user_id"].astype(str).unique())
        rows = users.get_indexer(inter["user_id"].astype(str))
        cols = self._items.get_indexer(inter["item_id"].astype(str))
        keep = cols >= 0
        shape = (len(users), len(self._items))
        self._ratings = sparse.csr_matrix(
            (inter["rating"].to_numpy(float)[keep], (rows[keep], cols[keep])), shape=shape
        )
        self._binary = sparse.csc_matrix(
            (np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape
        )
        self._norms = np.sqrt(np.asarray(self._binary.sum(axis=0))).ravel()
        self._norms[self._norms == 0] = 1.0
        self._users = users

    def _knn_rating(self, user: str, item: str) -> float:
        """Similarity-weighted mean of the user's ratings of the item's nearest rated items."""
        row, col = self._users.get_indexer([user])[0], self._items.get_indexer([item])[0]
        if row < 0 or col < 0:
            return float(self._item_mean.get(item, self._global_mean))
        rated = self._ratings[row]
        others = rated.indices != col
        neighbours, ratings = rated.indices[others], rated.data[others]
        overlap = (self._binary[:, [col]].T @ self._binary[:, neighbours]).toarray().ravel()
        sims = overlap / (self._norms[col] * self._norms[neighbours])
        top = np.argsort(-sims, kind="stable")[:NEIGHBOURS]
        weights = sims[top]
        if weights.sum() <= 0:
            return float(self._item_mean.get(item, self._global_mean))
        return float(weights @ ratings[top] / weights.sum())
