"""Matrix factorisation for implicit feedback (ALS and BPR) through the ``implicit`` library.

``implicit`` is imported on first fit, so worlds that never use these recommenders do not
pay for it. Training is single-threaded and seeded so the same seed gives the same slates;
the CPU classes are used directly so a GPU build of ``implicit`` cannot change results.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pydantic import Field

from simulator.recommenders.base import RecommenderConfig
from simulator.recommenders.knn import MatrixRecommender


class ALSConfig(RecommenderConfig):
    """Args:
    factors: Latent dimensions.
    regularization: L2 penalty on the factors.
    iterations: Alternating sweeps.
    alpha: Confidence weight of an observed interaction (``1 + alpha`` vs 1).
    """

    factors: int = Field(64, ge=1)
    regularization: float = Field(0.05, ge=0)
    iterations: int = Field(15, ge=1)
    alpha: float = Field(1.0, gt=0)


class BPRConfig(RecommenderConfig):
    """Args:
    factors: Latent dimensions (``implicit`` adds one for the item bias).
    learning_rate: SGD step size.
    regularization: L2 penalty on the factors.
    iterations: Epochs of sampled (user, positive, negative) triples.
    """

    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    regularization: float = Field(0.01, ge=0)
    iterations: int = Field(100, ge=1)


class _FactorRecommender(MatrixRecommender):
    """Scores are user factors · item factors; subclasses build the ``implicit`` model."""

    def __init__(self, config: RecommenderConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(config, seed=seed)
        self._user_factors = np.zeros((0, 0), dtype=np.float32)
        self._item_factors = np.zeros((0, 0), dtype=np.float32)

    def _model(self):  # returns an implicit.cpu model
        raise NotImplementedError

    def _train(self) -> None:
        from threadpoolctl import threadpool_limits

        # implicit warns (and slows down) when BLAS runs its own threads beside it.
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "OpenBLAS is configured", RuntimeWarning)
            model = self._model()
            model.fit(self._matrix, show_progress=False)
        self._user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _known_scores(self, rows: np.ndarray) -> np.ndarray:
        if len(self._user_factors) == 0:
            return np.tile(self._popularity.astype(float), (len(rows), 1))
        # Users added by update() after training have no factors yet: popularity for them.
        out = np.tile(self._popularity.astype(float), (len(rows), 1))
        have = rows < len(self._user_factors)
        out[have] = self._user_factors[rows[have]] @ self._item_factors.T
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self._user_factors, "item_factors": self._item_factors}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._user_factors = arrays["user_factors"]
        self._item_factors = arrays["item_factors"]


class ALSRecommender(_FactorRecommender):
    """Implicit ALS (Hu, Koren & Volinsky 2008) with conjugate-gradient solves.

    ``update`` re-solves the factors of the users who interacted, against fixed item
    factors: exact for those users and cheap (milliseconds a step). Item factors change
    only on ``fit``.
    """

    name = "als"
    config_class = ALSConfig
    config: ALSConfig

    def _model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            random_state=self.seed if self.seed is not None else 0,
            num_threads=1,
        )

    def _learn(self, interactions: pd.DataFrame, touched: np.ndarray) -> None:
        if len(touched) == 0 or len(self._item_factors) == 0:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "OpenBLAS is configured", RuntimeWarning)
            model = self._model()
        n_users = len(self.user_ids)
        grown = np.zeros((n_users, self._item_factors.shape[1]), dtype=np.float32)
        grown[: len(self._user_factors)] = self._user_factors
        model.user_factors = grown
        model.item_factors = self._item_factors
        # recalculate_user solves each touched user's factors exactly, items held fixed.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            solved = model.recalculate_user(touched, self._matrix[touched])
        grown[touched] = np.asarray(solved, dtype=np.float32)
        self._user_factors = grown


class BPRRecommender(_FactorRecommender):
    """Bayesian personalised ranking (Rendle et al. 2009) with an item bias.

    ``update`` records interactions (seen items, popularity) but does not retrain: SGD
    epochs take too long to run every step. Users first seen after ``fit`` get
    popularity until the next ``fit``.
    """

    name = "bpr"
    config_class = BPRConfig
    config: BPRConfig

    def _model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.config
        return BayesianPersonalizedRanking(
            factors=c.factors,
            learning_rate=c.learning_rate,
            regularization=c.regularization,
            iterations=c.iterations,
            random_state=self.seed if self.seed is not None else 0,
            num_threads=1,
        )
