"""The README's bring-your-own example, importable by path from a scenario."""

import numpy as np

from simulator.recommenders import ScoringRecommender


class GenreMatch(ScoringRecommender):
    """Scores items by how many of their genres the user has watched before."""

    name = "genre-match"

    def __init__(self, boost: float = 1.0, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.boost = boost

    def _fit(self, interactions):
        self._genres = {}
        self._users = {}
        self._item_genres = None

    def _scores(self, users):
        return np.zeros((len(users), len(self.item_ids))) + self.boost


class NotARecommender:
    def __init__(self, seed=None):
        self.seed = seed


class NamedOnInit(GenreMatch):
    """Declares its name and sets it in the constructor, as a protocol-only class may."""

    name: str

    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.name = "named-on-init"
