"""Random and most-popular: the floors every other recommender must beat."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from simulator.recommenders.base import RecommenderConfig, ScoringRecommender


class RandomConfig(RecommenderConfig):
    """Random has nothing to tune."""


class RandomRecommender(ScoringRecommender):
    """Uniformly random unseen items; seeded, so the same seed gives the same slates."""

    name = "random"

    def __init__(self, config: RandomConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.config = config or RandomConfig()
        self._rng = np.random.default_rng(seed)

    def _scores(self, users: list[str]) -> np.ndarray:
        return self._rng.random((len(users), len(self.item_ids)))

    def _state(self) -> dict[str, np.ndarray]:
        # The generator's state, so a loaded copy continues the same random sequence.
        return {"rng": np.asarray(json.dumps(self._rng.bit_generator.state))}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._rng.bit_generator.state = json.loads(str(state["rng"]))


class MostPopularConfig(RecommenderConfig):
    """Args:
    half_life: Steps after which an interaction counts half; ``None`` counts all alike.
    """

    half_life: float | None = None


class MostPopularRecommender(ScoringRecommender):
    """Items ranked by how often they were chosen, optionally with time decay.

    Updates come once per step, so decay is applied per ``update`` call: each call is one
    step of the world.
    """

    name = "most-popular"

    def __init__(self, config: MostPopularConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.config = config or MostPopularConfig()
        self._counts = np.zeros(0)

    def _fit(self, interactions: pd.DataFrame) -> None:
        self._counts = np.zeros(len(self.item_ids))
        self._add(interactions)

    def _update(self, interactions: pd.DataFrame) -> None:
        if self.config.half_life is not None:
            self._counts *= 0.5 ** (1.0 / self.config.half_life)
        self._add(interactions)

    def _add(self, interactions: pd.DataFrame) -> None:
        idx = interactions["item_id"].map(self._item_index).dropna().astype(int).to_numpy()
        np.add.at(self._counts, idx, 1.0)

    def _scores(self, users: list[str]) -> np.ndarray:
        return np.broadcast_to(self._counts, (len(users), len(self._counts)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"counts": self._counts}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self._counts = state["counts"].astype(float)
