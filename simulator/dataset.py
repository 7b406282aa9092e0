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

USER_COLUMNS = ("user_id",)
ITEM_COLUMNS = ("item_id", "title", "genres", "description")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
SOCIAL_COLUMNS = ("source", "target", "relation", "weight")
STEPS = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01)
"""Rating steps tried, coarsest first: the scale's step is the coarsest one that every
rating (and the top of the scale) lies on, counting from the bottom."""
STARS = 5
"""Points of the five-star answer that LLM prompts and the utility policy's ordered logit
give; ``stars_to_levels`` puts it onto a dataset's own scale."""


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


@dataclass(frozen=True)
class RatingScale:
    """The rating levels a dataset uses: ``low``, ``low + step``, ... up to ``high``.

    One definition, so fidelity, calibration and the floors bin ratings alike (whole stars
    1-5 for MovieLens-100K, half stars 0.5-5 for ml-latest-small).
    """

    low: float
    high: float
    step: float

    @property
    def levels(self) -> np.ndarray:
        n = round((self.high - self.low) / self.step) + 1
        return np.round(self.low + self.step * np.arange(n), 10)

    @property
    def liked(self) -> float:
        """The lowest level counted as liked: three quarters up the scale (4 of 1-5 stars)."""
        return float(nearest_level(self.low + 0.75 * (self.high - self.low), self.levels))

    @property
    def disliked(self) -> float:
        """The highest level counted as disliked: a quarter up the scale (2 of 1-5 stars,
        1.5 of 0.5-5, 3 of 1-10)."""
        return float(nearest_level(self.low + 0.25 * (self.high - self.low), self.levels))

    def describe(self) -> str:
        return f"{self.low:g} to {self.high:g} in steps of {self.step:g}"

    def star_shares(self, ratings: np.ndarray | pd.Series) -> np.ndarray | None:
        """The share of ``ratings`` nearest each of the five stars (the scale's ends at 1
        and 5), for prompts that answer in stars; None without finite ratings."""
        rated = np.asarray(ratings, dtype=float)
        rated = rated[np.isfinite(rated)]
        if not len(rated) or self.high <= self.low:
            return None
        stars = np.clip(np.rint(1 + 4 * (rated - self.low) / (self.high - self.low)), 1, STARS)
        return np.bincount(stars.astype(int) - 1, minlength=STARS) / len(stars)


def rating_scale(dataset: Dataset) -> RatingScale | None:
    """The dataset's rating levels, or None when its feedback is implicit (no ratings).

    The ends come from ``meta["rating_scale"]`` when the loader knows them, else from the
    non-null ratings; the step is the coarsest in ``STEPS`` every rating lies on.
    """
    ratings = dataset.interactions["rating"].to_numpy(dtype=float)
    ratings = ratings[np.isfinite(ratings)]
    if not len(ratings):
        return None
    low, high = dataset.meta.get("rating_scale") or (float(ratings.min()), float(ratings.max()))
    low, high = float(min(low, ratings.min())), float(max(high, ratings.max()))
    if high <= low:
        return RatingScale(low, low, 1.0)
    offsets = np.unique(np.r_[ratings, high]) - low
    for step in STEPS:
        if np.allclose(offsets / step, np.rint(offsets / step), atol=1e-6):
            return RatingScale(low, high, step)
    raise DatasetError(
        dataset.source or dataset.name,
        f"ratings from {low:g} to {high:g} lie on no step of {list(STEPS)}; "
        "round them to a rating scale first",
    )


def nearest_level(values: float | np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each value snapped to the nearest level (ties go up; NaN stays NaN)."""
    v = np.asarray(values, dtype=float)
    levels = np.asarray(levels, dtype=float)
    if len(levels) == 1:
        return np.where(np.isnan(v), np.nan, levels[0])
    index = np.clip(np.searchsorted(levels, v), 1, len(levels) - 1)  # first level >= v
    below, above = levels[index - 1], levels[index]
    return np.where(np.isnan(v), np.nan, np.where(v - below < above - v - 1e-9, below, above))


def stars_to_levels(star_probs: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Put a distribution over 1-5 stars onto ``levels``, keeping the order.

    Star s goes to the level nearest ``low + (s - 1)(high - low) / 4``, so 1 and 5 stars
    are the scale's ends; on a finer scale some levels get no probability.
    """
    return between_scales(star_probs, np.arange(1.0, STARS + 1), levels)


def between_scales(probs: np.ndarray, source: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Put distributions over the ``source`` levels onto ``levels``, keeping the order.

    Each source level is placed at the same relative position between the target scale's
    ends and gives its probability to the nearest target level; identical scales pass
    through unchanged.
    """
    source = np.asarray(source, dtype=float)
    levels = np.asarray(levels, dtype=float)
    probs = np.asarray(probs, dtype=float)
    if len(source) == len(levels) and np.allclose(source, levels):
        return probs.copy()
    low, high = float(levels[0]), float(levels[-1])
    points = low + (source - source[0]) * (high - low) / (source[-1] - source[0])
    target = np.searchsorted(levels, nearest_level(points, levels))
    out = np.zeros((len(probs), len(levels)))
    for column, level in enumerate(target):
        out[:, level] += probs[:, column]
    return out


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            source or what,
            f"the {what} table lacks column(s) {missing}; a loader must provide {list(columns)}",
        )
