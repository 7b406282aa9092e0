"""A user's own verdicts on the items most like a given one: the rating model's memory.

The taste core says *whether* a user would choose an item; it reads the log as binary, so
a user who rated "Grease" 5 and one who rated it 1 look alike to it, and both would rate
"Grease 2" the same. Real users do not. This is the classic neighbourhood predictor of
rating models (Koren, 2008): for an item ``i`` and user ``u``,

    verdict(u, i) = Σ_j s(i, j) · d(u, j) / (Σ_j s(i, j) + SHRINK)

over the items ``j`` the user rated among ``i``'s ``NEIGHBOURS`` most similar, where
``s`` is the cosine of two items' columns in the interaction log and ``d(u, j)`` is how
far the user's rating of ``j`` lies from their own mean, in units of the data's rating
spread. ``SHRINK`` pulls a verdict resting on few or weak neighbours towards 0 (the
user's usual rating). The rating model adds it to its ordered-logit score with a weight
``calibrate`` fits (``rating_neighbours``).

Similarities are kept for the ``max_items`` most interacted items (as the taste core
caps its catalogue), each with its ``NEIGHBOURS`` nearest, computed in blocks so memory
stays at a block × catalogue matrix. Users and items added later have no verdicts (0).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from agents.sparse_rows import values_at

NEIGHBOURS = 50
"""Most similar items kept per item, as in item-kNN rating predictors."""
SHRINK = 1.0
"""Pseudo-similarity at verdict 0: one perfectly similar item rated at the user's mean."""
_BLOCK = 1024


class ItemNeighbours:
    """Each item's ``k`` most similar items by the cosine of their columns in the log,
    with ``shrink`` added to the denominator so that pairs seen together rarely count less
    (as the item-kNN recommender computes it).

    Args:
        seen: n_users × n_items binary matrix of every interaction.
        max_items: Similarities for at most this many (most interacted) items; the rest
            (and items added later) have no neighbours.
        k: Neighbours kept per item.
        shrink: Added to the product of the two items' norms.
    """

    def __init__(
        self,
        seen: sparse.csr_matrix,
        *,
        max_items: int = 6000,
        k: int = NEIGHBOURS,
        shrink: float = 0.0,
    ) -> None:
        n_items = seen.shape[1]
        counts = np.asarray(seen.sum(axis=0)).ravel()
        covered = np.argsort(-counts, kind="stable")[: min(max_items, int((counts > 0).sum()))]
        x = seen.tocsc()[:, covered].astype(np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        k = min(k, max(len(covered) - 1, 0))
        self.neighbours = np.zeros((n_items, k), dtype=np.int64)
        self.similarity = np.zeros((n_items, k), dtype=np.float64)
        if k == 0:
            return
        gram = (x.T @ x).tocsr()
        for start in range(0, len(covered), _BLOCK):
            rows = slice(start, start + _BLOCK)
            sim = gram[rows].toarray()
            sim /= norms[rows][:, None] * norms[None, :] + shrink + 1e-12
            block = np.arange(sim.shape[0])
            sim[block, block + start] = 0.0  # an item is not its own neighbour
            nearest = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            self.neighbours[covered[rows]] = covered[nearest]
            self.similarity[covered[rows]] = np.take_along_axis(sim, nearest, axis=1)

    def gather(
        self, matrix: sparse.csr_matrix, users: np.ndarray, items: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each (user, item) pair: the item's neighbour similarities, and the user's
        row of ``matrix`` at those neighbours: three arrays of pairs × k."""
        near = self.neighbours[items]
        return near, self.similarity[items], values_at(matrix, users, near)

    def sums(self, history: sparse.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Σ similarity over the neighbours of each item the user has in ``history``
        (the item-kNN score); ``items`` is n × k for n users, 0 for later users or items."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.zeros(items.shape, dtype=np.float64)
        ok = (users[:, None] < history.shape[0]) & (items < len(self.neighbours))
        if self.neighbours.shape[1] == 0 or not ok.any():
            return out
        rows, slots = np.nonzero(ok)
        _, sim, has = self.gather(history, users[rows], items[rows, slots])
        out[rows, slots] = (sim * (has > 0)).sum(axis=1)
        return out


class RatedNeighbours:
    """Verdicts of users on the neighbours of items.

    Args:
        seen: n_users × n_items binary matrix of every interaction (similarities).
        centred: Same shape; the user's rating minus their own mean, over the data's
            rating spread, where the user rated the item (explicit zeros elsewhere are
            fine: only rated entries count).
        rated: Same shape, 1 where the user rated the item.
        max_items: Similarities for at most this many (most interacted) items.
    """

    def __init__(
        self,
        seen: sparse.csr_matrix,
        centred: sparse.csr_matrix,
        rated: sparse.csr_matrix,
        *,
        max_items: int = 6000,
    ) -> None:
        self.centred = centred.tocsr()
        self.rated = rated.tocsr().astype(np.float64)
        self.items = ItemNeighbours(seen, max_items=max_items)

    @classmethod
    def from_ratings(
        cls,
        seen: sparse.csr_matrix,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        *,
        max_items: int = 6000,
    ) -> RatedNeighbours:
        """From rating triples (rows of ``seen``; NaN ratings are left out)."""
        ok = np.isfinite(ratings)
        users, items, ratings = users[ok], items[ok], ratings[ok]
        shape = seen.shape
        if len(ratings) == 0:
            empty = sparse.csr_matrix(shape)
            return cls(seen, empty, empty, max_items=max_items)
        spread = float(ratings.std()) or 1.0
        sums = np.bincount(users, weights=ratings, minlength=shape[0])
        counts = np.bincount(users, minlength=shape[0])
        means = sums / np.maximum(counts, 1)
        centred = sparse.csr_matrix(((ratings - means[users]) / spread, (users, items)), shape)
        rated = sparse.csr_matrix((np.ones(len(users)), (users, items)), shape)
        # A repeated rating of one item counts as their mean.
        centred = centred.multiply(rated.power(-1)).tocsr() if rated.max() > 1 else centred
        rated.data[:] = 1.0
        return cls(seen, centred, rated, max_items=max_items)

    def verdicts(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The shrunk neighbourhood verdict of each (user, item) pair; ``items`` may be
        n × k for n users. 0 where the user or item came later, or nothing near was rated."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        shape = items.shape
        flat_items = items.reshape(len(users), -1)
        out = np.zeros(flat_items.shape, dtype=np.float64)
        n_users, n_items = self.centred.shape
        ok = (users[:, None] < n_users) & (flat_items < n_items)
        if self.items.neighbours.shape[1] == 0 or not ok.any():
            return out.reshape(shape)
        rows, slots = np.nonzero(ok)
        pairs = (users[rows], flat_items[rows, slots])
        near, sim, verdict = self.items.gather(self.centred, *pairs)
        weight = np.maximum(sim, 0.0) * values_at(self.rated, pairs[0], near)
        out[rows, slots] = (weight * verdict).sum(axis=1) / (weight.sum(axis=1) + SHRINK)
        return out.reshape(shape)
