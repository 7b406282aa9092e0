"""Item-item k-nearest-neighbour collaborative filtering, and the matrix bookkeeping
the learned recommenders share.

``MatrixRecommender`` keeps the user-item interaction matrix (binary: a user chose an
item, however often), a popularity count for users the model cannot score, and a
pickle-free ``save``/``load``. It lives here because ItemKNN is its simplest user;
ALS/BPR, the content recommender and SASRec build on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from simulator.recommenders.base import RecommenderConfig, ScoringRecommender

_FORMAT = 1


class MatrixRecommender(ScoringRecommender):
    """Interaction-matrix bookkeeping: user index, binary matrix, popularity, save/load.

    Subclasses set ``config_class`` and implement ``_train()`` (learn from
    ``self._matrix``), ``_known_scores(rows)`` (scores for matrix rows), and optionally
    ``_learn(interactions, touched)`` for online updates and ``_state``/``_restore``
    for the arrays ``save`` must keep. Users the model has never seen get popularity.
    """

    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig

    def __init__(self, config: RecommenderConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.config = config or self.config_class()
        self.user_ids: list[str] = []
        self._user_index: dict[str, int] = {}
        self._matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self._popularity = np.zeros(0)

    # -- ScoringRecommender hooks -------------------------------------------------------

    def _fit(self, interactions: pd.DataFrame) -> None:
        self.user_ids = []
        self._user_index = {}
        self._matrix = sp.csr_matrix((0, len(self.item_ids)), dtype=np.float32)
        self._popularity = np.zeros(len(self.item_ids))
        self._add(interactions)
        self._train()

    def _update(self, interactions: pd.DataFrame) -> None:
        touched = self._add(interactions)
        self._learn(interactions, touched)

    def _scores(self, users: list[str]) -> np.ndarray:
        out = np.tile(self._popularity.astype(float), (len(users), 1))
        pairs = [(r, self._user_index[u]) for r, u in enumerate(users) if u in self._user_index]
        if pairs:
            rows, idx = map(np.asarray, zip(*pairs, strict=True))
            out[rows] = self._known_scores(idx)
        return out

    # -- what subclasses implement ---------------------------------------------------------

    def _train(self) -> None:
        raise NotImplementedError

    def _known_scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _learn(self, interactions: pd.DataFrame, touched: np.ndarray) -> None:
        """React to new interactions already added to the matrix; default: nothing."""

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Rebuild the model from ``_state``'s arrays."""

    # -- matrix bookkeeping ---------------------------------------------------------------

    def _add(self, interactions: pd.DataFrame) -> np.ndarray:
        """Add interactions with known items; returns the touched matrix rows."""
        items = interactions["item_id"].map(self._item_index)
        known = items.notna().to_numpy()
        cols = items[known].astype(int).to_numpy()
        users = interactions["user_id"].to_numpy()[known]
        for user in users:
            if user not in self._user_index:
                self._user_index[user] = len(self.user_ids)
                self.user_ids.append(user)
        rows = np.fromiter((self._user_index[u] for u in users), dtype=np.int64, count=len(users))
        np.add.at(self._popularity, cols, 1.0)
        shape = (len(self.user_ids), len(self.item_ids))
        new = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        old = self._matrix
        old.resize(shape)
        merged = (old + new).tocsr()
        merged.data[:] = 1.0
        merged.sort_indices()
        self._matrix = merged
        return np.unique(rows)

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write ``meta.json`` and ``state.npz`` into the folder ``path`` (created if needed).

        Plain JSON and numpy arrays only, so loading never unpickles foreign objects.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "class": type(self).__name__,
            "seed": self.seed,
            "config": self.config.model_dump(mode="json"),
        }
        arrays = {
            "item_ids": np.array(list(self.item_ids), dtype=str),
            "user_ids": np.array(self.user_ids, dtype=str),
            "indptr": self._matrix.indptr,
            "indices": self._matrix.indices,
            "popularity": self._popularity,
        }
        for key, value in self._state().items():
            arrays[f"state_{key}"] = value
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        with open(folder / "state.npz", "wb") as fh:
            np.savez(fh, **arrays)

    def load(self, path: str | Path) -> Self:
        """Replace this recommender's config, seed and state with those ``save`` wrote.

        Returns ``self``, so ``ItemKNNRecommender().load(folder)`` reads as one step.
        Refuses a folder written by another class.
        """
        folder = Path(path)
        meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
        if meta.get("class") != type(self).__name__ or meta.get("format") != _FORMAT:
            raise ValueError(f"{folder} holds {meta.get('class')!r}, not {type(self).__name__}")
        with np.load(folder / "state.npz", allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        self.config = self.config_class(**meta["config"])
        self.seed = meta["seed"]
        self.item_ids = np.asarray(arrays["item_ids"].tolist(), dtype=object)
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self.user_ids = arrays["user_ids"].tolist()
        self._user_index = {user: i for i, user in enumerate(self.user_ids)}
        indices, indptr = arrays["indices"], arrays["indptr"]
        self._matrix = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
        self._popularity = arrays["popularity"]
        self._seen = {
            user: set(indices[indptr[r] : indptr[r + 1]].tolist())
            for r, user in enumerate(self.user_ids)
        }
        self._restore({k[6:]: v for k, v in arrays.items() if k.startswith("state_")})
        return self


class ItemKNNConfig(RecommenderConfig):
    """Args:
    k_neighbours: Neighbours kept per item; fewer is faster and less noisy.
    shrink: Added to the cosine denominator so pairs seen together rarely count less.
    """

    k_neighbours: int = Field(50, ge=1)
    shrink: float = Field(10.0, ge=0)


class ItemKNNRecommender(MatrixRecommender):
    """Item-item cosine kNN: a user's score for an item sums its similarity to their items.

    ``update`` adds interactions to the matrix at once (so a user's new choices change
    their scores) and marks the similarities stale; they are recomputed lazily, on the
    next ``recommend``, which costs well under a second on MovieLens-100K. Items no
    neighbour reaches are ordered by popularity rather than by catalogue position.
    """

    name = "item-knn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig

    def __init__(self, config: ItemKNNConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(config, seed=seed)
        self._sim: sp.csr_matrix | None = None

    def _train(self) -> None:
        self._sim = None

    def _learn(self, interactions: pd.DataFrame, touched: np.ndarray) -> None:
        self._sim = None

    def _similarity(self) -> sp.csr_matrix:
        """Top-k shrunk cosine per item; row ``i`` holds item ``i``'s neighbours."""
        if self._sim is not None:
            return self._sim
        x = self._matrix.tocsc().astype(np.float64)
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        co = (x.T @ x).tocoo()
        off = co.row != co.col
        rows, cols, data = co.row[off], co.col[off], co.data[off]
        data = data / (norms[rows] * norms[cols] + self.config.shrink + 1e-12)
        sim = sp.csr_matrix((data, (rows, cols)), shape=co.shape)
        sim.sort_indices()
        k = self.config.k_neighbours
        keep = np.zeros(len(sim.data), dtype=bool)
        for i in range(sim.shape[0]):
            lo, hi = sim.indptr[i], sim.indptr[i + 1]
            if hi - lo <= k:
                keep[lo:hi] = True
            else:
                keep[lo + np.argpartition(-sim.data[lo:hi], k - 1)[:k]] = True
        sim.data[~keep] = 0.0
        sim.eliminate_zeros()
        self._sim = sim
        return sim

    def _known_scores(self, rows: np.ndarray) -> np.ndarray:
        sim = self._similarity()
        scores = (self._matrix[rows] @ sim.T).toarray()
        # A tiny popularity term only breaks ties (mostly zeros) in favour of popular items.
        pop = self._popularity / max(self._popularity.max(), 1.0)
        return scores + 1e-6 * pop
