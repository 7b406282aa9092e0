"""The one normalised form every dataset loader produces.

Frames, not objects per row, because recommenders fit on whole columns and 100K-row logs
must load in well under a second.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.errors import DatasetError
from simulator.ratings import RatingScale, scale_of

USER_COLUMNS = ("user_id",)
ITEM_COLUMNS = ("item_id", "title", "genres", "description")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
SOCIAL_COLUMNS = ("source", "target", "relation", "weight")


@dataclass(frozen=True)
class Dataset:
    """Users, items with text, and timed interactions.

    Attributes:
        name: Short name used in run directories and logs.
        users: One row per user; ``user_id`` (str) plus any profile columns the source
            has (age, gender, occupation, name, traits, status, interests).
        items: One row per item; ``item_id`` (str), ``title`` (str), ``genres``
            (tuple of str) and ``description`` (str, may be empty), plus extras.
        interactions: ``user_id``, ``item_id`` (str), ``timestamp`` (int64; seconds, or
            an ordinal when the source has no clock) and ``rating`` (float, NaN when
            the feedback is implicit).
        social: Optional directed edges ``source``, ``target``, ``relation``, ``weight``.
    """

    name: str
    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame
    social: pd.DataFrame | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_columns(self.users, USER_COLUMNS, self.source, "users")
        _require_columns(self.items, ITEM_COLUMNS, self.source, "items")
        _require_columns(self.interactions, INTERACTION_COLUMNS, self.source, "interactions")
        if self.social is not None:
            _require_columns(self.social, SOCIAL_COLUMNS, self.source, "social")
        if self.users["user_id"].duplicated().any():
            dup = self.users.loc[self.users["user_id"].duplicated(), "user_id"].iloc[0]
            raise DatasetError(self.source or self.name, f"user_id {dup!r} appears twice")
        if self.items["item_id"].duplicated().any():
            dup = self.items.loc[self.items["item_id"].duplicated(), "item_id"].iloc[0]
            raise DatasetError(self.source or self.name, f"item_id {dup!r} appears twice")

    @property
    def user_ids(self) -> list[str]:
        return self.users["user_id"].tolist()

    @property
    def item_ids(self) -> list[str]:
        return self.items["item_id"].tolist()

    def stats(self) -> dict[str, object]:
        """Counts, sparsity and the most common genres, for ``recworld data info``."""
        n_users, n_items = len(self.users), len(self.items)
        n_inter = len(self.interactions)
        density = n_inter / (n_users * n_items) if n_users and n_items else 0.0
        genres: Counter[str] = Counter()
        item_genres = dict(zip(self.items["item_id"], self.items["genres"], strict=True))
        for item in self.interactions["item_id"]:
            genres.update(item_genres.get(item, ()))
        ratings = self.interactions["rating"]
        return {
            "name": self.name,
            "users": n_users,
            "items": n_items,
            "interactions": n_inter,
            "sparsity": 1.0 - density,
            "mean_rating": float(ratings.mean()) if ratings.notna().any() else None,
            "social_edges": 0 if self.social is None else len(self.social),
            "top_genres": genres.most_common(10),
        }

    def sample_users(self, n: int | None, rng: np.random.Generator) -> Dataset:
        """Keep ``n`` users drawn without replacement, with their interactions."""
        if n is None or n >= len(self.users):
            return self
        keep = rng.choice(len(self.users), size=n, replace=False)
        users = self.users.iloc[np.sort(keep)].reset_index(drop=True)
        ids = set(users["user_id"])
        inter = self.interactions[self.interactions["user_id"].isin(ids)].reset_index(drop=True)
        social = None
        if self.social is not None:
            mask = self.social["source"].isin(ids) & self.social["target"].isin(ids)
            social = self.social[mask].reset_index(drop=True)
        return Dataset(self.name, users, self.items, inter, social, self.source, self.meta)


def rating_scale(dataset: Dataset) -> RatingScale | None:
    """The dataset's rating levels, or None when its feedback is implicit (no ratings).

    The ends come from ``meta["rating_scale"]`` when the loader knows them, else from the
    non-null ratings; the step is the coarsest in ``simulator.ratings.STEPS`` every rating
    lies on. One value for everything is no scale (implicit feedback written as a rating).
    """
    try:
        return scale_of(dataset.interactions["rating"], dataset.meta.get("rating_scale"))
    except ValueError as exc:
        raise DatasetError(dataset.source or dataset.name, str(exc)) from None


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            source or what,
            f"the {what} table lacks column(s) {missing}; a loader must provide {list(columns)}",
        )
