"""The taste core's collaborative signal, one model family each: EASE, item-kNN and ALS.

A family turns a user's history (a binary row over the covered items) into a raw score for
any covered item, and knows each user's mean and spread of those scores over the covered
catalogue, so the taste core can standardise them without a users × items product.

* ``ease``: Steck (2019), ``B = I − P·diag(1/diag P)`` with ``P = (XᵀX + λI)⁻¹``; the
  setting is λ.
* ``item-knn``: cosine similarity of item columns, each item's ``k`` nearest kept (the
  setting is ``k``); a user's score for an item sums its similarity to their history.
* ``als``: implicit ALS (Hu, Koren & Volinsky, 2008) through the ``implicit`` library;
  the setting is the regularisation; the score is user factors · item factors.

Several families exist so that a simulator is not a copy of one recommender: in
``compare``, a recommender that wins only when the simulated users share its family is
flagged (``simulator.evaluation.family``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np
from scipy import linalg, sparse

from agents.sparse_rows import user_blocks

Family = Literal["ease", "item-knn", "als"]
FAMILIES: tuple[Family, ...] = ("ease", "item-knn", "als")


class Collaborative(Protocol):
    """Raw scores of covered items for users of the history it was fitted on."""

    family: Family
    setting: float
    user_mean: np.ndarray
    """Per user, the mean raw score over the covered items."""
    user_scale: np.ndarray
    """Per user, the standard deviation of the raw scores over the covered items."""

    def scores(self, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Raw scores of n users (rows) × k covered columns each."""
        ...


DENSE_SPEEDUP = 50
"""How much faster a score term comes from whole rows (a sparse × dense product) than
gathered one by one: measured 0.2 against 10 ns on ml-100k. ``ItemItem.scores`` takes
whole rows when the terms it would gather, times this, outnumber the whole rows' terms."""


class ItemItem:
    """Scores ``x_u · W[:, c]`` from an item-item matrix ``W`` (EASE's B, or kNN weights).

    Scoring gathers only the entries a page needs (history length × page size per user)
    instead of scoring the whole catalogue for every user.
    """

    def __init__(self, family: Family, setting: float, x: sparse.csr_matrix, w: np.ndarray):
        self.family = family
        self.setting = float(setting)
        self.history = x
        self.w = w.astype(np.float32)
        # W in float64, made on the first call that takes whole rows and kept: twice W's
        # memory again (288 MB at the 6,000-item cap), only in processes that need it.
        self._w64: np.ndarray | None = None
        n = max(1, w.shape[0])
        # mean_u = x_u·(W1)/n and E[s²] = x_u (W Wᵀ) x_uᵀ / n: no users × items product.
        w64 = w.astype(np.float64)
        row_sums = w64.sum(axis=1)
        gram = w64 @ w64.T
        self.user_mean = np.asarray(x @ row_sums).ravel() / n
        quad = np.empty(x.shape[0])
        chunk = max(1, (8 << 20) // n)
        for start in range(0, x.shape[0], chunk):
            part = x[start : start + chunk]
            quad[start : start + chunk] = np.asarray(part.multiply(part @ gram).sum(axis=1))[:, 0]
        quad /= n
        self.user_scale = np.sqrt(np.maximum(quad - self.user_mean**2, 0.0))

    def scores(self, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
        x = self.history
        starts, ends = x.indptr[users], x.indptr[users + 1]
        lengths = ends - starts
        distinct, inverse = np.unique(users, return_inverse=True)
        whole_rows = int(np.diff(x.indptr)[distinct].sum()) * self.w.shape[1]
        if int(lengths.sum()) * cols.shape[1] * DENSE_SPEEDUP > whole_rows:
            return self._dense_scores(distinct, inverse, cols)
        owner = np.repeat(np.arange(len(users)), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        history = x.indices[np.repeat(starts, lengths) + offsets]
        out = np.empty(cols.shape, dtype=np.float64)
        for slot in range(cols.shape[1]):
            values = self.w[history, cols[owner, slot]]
            out[:, slot] = np.bincount(owner, weights=values, minlength=len(users))
        return out

    def _dense_scores(
        self, distinct: np.ndarray, inverse: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """The same scores from whole rows ``x_u · W``, a block of users at a time (the
        users as ``np.unique(users, return_inverse=True)`` gives them): cheaper when users
        come back many times in one call. Each score adds the same float64 terms in the
        same order (the user's history in column order), so it is the same number to the
        bit."""
        if self._w64 is None:
            self._w64 = self.w.astype(np.float64)
        out = np.empty(cols.shape, dtype=np.float64)
        for users, rows, local in user_blocks(distinct, inverse, self.w.shape[1]):
            block = self.history[users]
            indicator = sparse.csr_matrix(
                (np.ones(block.nnz), block.indices, block.indptr), shape=block.shape
            )
            whole = indicator @ self._w64
            out[rows] = whole[local[:, None], cols[rows]]
        return out


class Factors:
    """Scores ``u · v`` from user and item factors (ALS)."""

    def __init__(
        self, family: Family, setting: float, user_factors: np.ndarray, item_factors: np.ndarray
    ):
        self.family = family
        self.setting = float(setting)
        self.user_factors = np.asarray(user_factors, dtype=np.float64)
        self.item_factors = np.asarray(item_factors, dtype=np.float64)
        mean = self.item_factors.mean(axis=0)
        centred = self.item_factors - mean
        cov = centred.T @ centred / max(1, len(centred))
        self.user_mean = self.user_factors @ mean
        var = np.einsum("nd,nd->n", self.user_factors @ cov, self.user_factors)
        self.user_scale = np.sqrt(np.maximum(var, 0.0))

    def scores(self, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.einsum("nd,nkd->nk", self.user_factors[users], self.item_factors[cols])


def ease(x: sparse.csr_matrix, l2: float, seed: int = 0) -> ItemItem:
    """EASE's closed form over the columns of ``x``."""
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    p = linalg.inv(gram, overwrite_a=True, check_finite=False)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return ItemItem("ease", l2, x, b)


def item_knn(x: sparse.csr_matrix, neighbours: float, seed: int = 0) -> ItemItem:
    """Cosine item-item similarity, each target item keeping its ``neighbours`` nearest."""
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    norms = np.sqrt(np.diag(gram))
    safe = np.where(norms > 0, norms, 1.0)
    sim = gram / safe[:, None] / safe[None, :]
    np.fill_diagonal(sim, 0.0)
    k = int(neighbours)
    if k < sim.shape[0]:
        # Column c holds the weights of every history item towards c: keep its k largest.
        nearest = np.argpartition(-sim, k - 1, axis=0)[:k]
        kept = np.zeros(sim.shape, dtype=bool)
        np.put_along_axis(kept, nearest, True, axis=0)
        sim[~kept] = 0.0
    return ItemItem("item-knn", neighbours, x, sim)


def als(x: sparse.csr_matrix, regularization: float, seed: int = 0) -> Factors:
    """Implicit ALS, single-threaded and seeded so the same data give the same factors."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "OpenBLAS is configured", RuntimeWarning)
        model = AlternatingLeastSquares(
            factors=ALS_FACTORS,
            regularization=regularization,
            iterations=ALS_ITERATIONS,
            random_state=seed,
            num_threads=1,
        )
        model.fit(x.astype(np.float32), show_progress=False)
    return Factors("als", regularization, model.user_factors, model.item_factors)


ALS_FACTORS = 64
ALS_ITERATIONS = 15

Builder = Callable[[sparse.csr_matrix, float, int], Collaborative]
BUILDERS: dict[Family, Builder] = {"ease": ease, "item-knn": item_knn, "als": als}


def candidate_settings(family: Family, mean_count: float) -> tuple[float, ...]:
    """The settings a fit chooses among (by held-out ranking): λ in multiples of the mean
    item count for EASE, neighbourhood sizes for item-kNN, regularisations for ALS."""
    if family == "ease":
        return tuple(m * mean_count for m in (0.5, 2.0, 8.0, 32.0))
    if family == "item-knn":
        return (20.0, 50.0, 100.0, 200.0)
    return (0.01, 0.1, 1.0, 10.0)


def default_setting(family: Family, mean_count: float) -> float:
    """The setting used when there is too little data to choose one."""
    return candidate_settings(family, mean_count)[1]


def build(family: Family, x: sparse.csr_matrix, setting: float, seed: int = 0) -> Collaborative:
    """The ``family`` model fitted on ``x`` (users × covered items) with ``setting``."""
    if family not in BUILDERS:
        raise ValueError(f"unknown taste family {family!r}; choose one of {', '.join(FAMILIES)}")
    return BUILDERS[family](x, setting, seed)
