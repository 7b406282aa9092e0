"""Rating scales: the levels a dataset rates on, and moving ratings between scales.

LLM prompts ask for 1-5 stars and the utility policy's ordered logit has its own levels
(1-5 until ``calibrate`` fits the data's); a run's log, the report, the fidelity suite
and calibration read every rating on the dataset's own levels, which ``scale_of`` finds.
No imports from the rest of the project, so agents can put their answers on a dataset's
scale too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STEPS = (10.0, 5.0, 1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01)
"""Rating steps tried, coarsest first: the scale's step is the coarsest one that every
rating (and the top of the scale) lies on, counting from the bottom."""
LIKED_SHARE = 0.75
"""How far up a scale "liked" starts (4 of 1-5 stars, 8 of 1-10); "disliked" ends as far
above the bottom as "liked" starts below the top (2 of 1-5, 3 of 1-10)."""
STARS = 5
"""Points of the five-star answer that LLM prompts give (and the utility policy's ordered
logit before ``calibrate``); ``stars_to_levels`` puts it onto a dataset's own scale."""


@dataclass(frozen=True)
class RatingScale:
    """The rating levels a dataset uses: ``low``, ``low + step``, ... up to ``high``.

    One definition, so the run's log, item agents, the report, fidelity, calibration and
    the floors read ratings alike (whole stars 1-5 for MovieLens-100K, half stars 0.5-5
    for ml-latest-small).
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
        return float(nearest_level(self.low + LIKED_SHARE * (self.high - self.low), self.levels))

    @property
    def disliked(self) -> float:
        """The highest level counted as disliked: as far above the bottom as ``liked`` is
        below the top (2 of 1-5 stars, 1.5 of 0.5-5, 3 of 1-10, 1 of 1-3)."""
        return float(nearest_level(self.low + self.high - self.liked, self.levels))

    def placed(self, values: float | np.ndarray, low: float, high: float) -> np.ndarray:
        """Ratings on another scale from ``low`` to ``high``, each at the same place between
        this scale's ends, at its nearest level: identical scales pass through."""
        values = np.asarray(values, dtype=float)
        if high <= low:
            return nearest_level(np.full(values.shape, self.high), self.levels)
        return nearest_level(
            self.low + (values - low) * (self.high - self.low) / (high - low), self.levels
        )

    def from_stars(self, stars: float) -> float:
        """A 1-5 star answer as a level: 1 and 5 stars are the scale's ends (3 of 1-5 is 3,
        of 0.5-5 is 3, of 1-10 is 6: 5.5, ties up)."""
        return float(self.placed(stars, 1.0, float(STARS)))

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


FIVE_STARS = RatingScale(1.0, float(STARS), 1.0)
"""Whole stars 1-5: the scale of data without ratings of its own, and the default."""


def scale_of(
    ratings: np.ndarray | pd.Series, ends: tuple[float, float] | None = None
) -> RatingScale | None:
    """The scale ``ratings`` lie on, None without two different ones (no ratings, or one
    value for everything: implicit feedback written as a rating): from ``ends`` (a
    loader's known scale) or the ratings' own range, in the coarsest of ``STEPS`` every
    rating lies on, counting from the bottom.

    Raises:
        ValueError: The ratings lie on no step of ``STEPS``.
    """
    values = np.asarray(ratings, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values) or values.min() == values.max():
        return None
    low, high = ends or (float(values.min()), float(values.max()))
    low, high = float(min(low, values.min())), float(max(high, values.max()))
    offsets = np.unique(np.r_[values, high]) - low
    for step in STEPS:
        if np.allclose(offsets / step, np.rint(offsets / step), atol=1e-6):
            return RatingScale(low, high, step)
    raise ValueError(
        f"ratings from {low:g} to {high:g} lie on no step of {list(STEPS)}; "
        "round them to a rating scale first"
    )


def logged(stars: float, scale: RatingScale | None) -> float:
    """A 1-5 star answer as a run's log records it: a level of the dataset's ``scale``, or
    the stars themselves for data without ratings (no scale)."""
    return scale.from_stars(stars) if scale is not None else float(stars)


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
