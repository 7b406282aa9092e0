"""The utility model's weights and the constants its features are built with.

They live apart from the model so that scenario files and ``simulator.calibration`` can
name, validate and fit the weights without loading any of the matrices.
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.collaborative import Family
from agents.page import POSITION_BIAS
from agents.profile import Level
from simulator.ratings import LIKED_SHARE, nearest_level, scale_of

QUALITY_PRIOR = 5.0
"""Pseudo-ratings at the catalogue mean that shrink a rarely rated item's mean rating."""
USER_PRIOR = 5.0
"""Pseudo-ratings at the catalogue's mean and spread that shrink a light rater's bias and
spread towards everyone's."""


def liked_rating(ratings: np.ndarray) -> float | None:
    """The lowest rating counted as liked: ``RatingScale.liked`` of the scale the ratings
    lie on (the utility model sees a dataset's frames, not its loader's scale), else the
    rating nearest ``LIKED_SHARE`` up their range. None without two different ratings
    (implicit feedback)."""
    values = np.asarray(ratings, dtype=float)
    try:
        scale = scale_of(values)
    except ValueError:  # no regular step: the nearest rating given
        values = np.unique(values[np.isfinite(values)])
        return float(nearest_level(values[0] + LIKED_SHARE * (values[-1] - values[0]), values))
    return scale.liked if scale is not None else None


class UtilityParams(BaseModel):
    """The weights of the choice, rating and exit models; ``calibrate`` fits some of them.

    The click utility of an item is ``affinity`` times the taste core's preference logit
    (``agents.preferences``), which already weighs taste, content and popularity as the
    data does; conformity and diversity shift it for users away from the medium level.
    ``page_size_cost``, the rating weights and the cutpoints are rounded from ``calibrate``
    on MovieLens 100K (a page of ten in five ends in a watch); the neighbour-verdict weight
    fits to 1.69 there and 1.72 on MovieLens latest-small (half stars), the same in both.

    Attributes:
        affinity: Weight of the taste core's preference logit in the click utility.
        popularity: Weight of item popularity, times (conformity multiplier − 1): more for
            conformists, less for independents, nothing at the medium level.
        novelty: Weight of item novelty (1 − popularity), times (diversity multiplier − 1).
        position_bias: Utility lost per doubling of the slot (0 in slot 1).
        no_click: Utility of the outside option on a page of one item: at 0, a user shown
            one item alone says yes where the taste core's logit crosses 0 (the logit's
            equal-error point).
        page_size_cost: How much the outside option gains per log of the items on a page:
            more choices make any one of them less compelling (``calibrate`` fits it to a
            page-level click-through; 1 makes a page as attractive as its average item).
        fatigue: Satisfaction lost per page seen in the visit.
        exit_threshold: Net satisfaction at which going on and leaving are even odds.
        exit_slope: How sharply the continue probability turns around the threshold.
        skip_satisfaction: Satisfaction of a page with nothing watched (a rating r gives
            (r − 3) / 2, in [−1, 1]).
        rating_affinity: Ordered-logit weight of the preference logit.
        rating_quality: Ordered-logit weight of the item's relative mean rating (stars),
            scaled by the user's conformity.
        rating_user_bias: Ordered-logit weight of the user's own bias (their shrunk mean
            rating minus everyone's, in stars): generous and harsh raters. The logit is
            also divided by the user's relative spread, so a user who rates everything
            alike stays near their mean.
        rating_neighbours: Ordered-logit weight of the user's own verdicts on the items
            most like this one (``agents.neighbours``): who loved the original rates its
            sequel higher than who hated it.
        rating_levels: The values a rating can take, low to high: whole stars 1-5 by
            default; ``calibrate`` sets the dataset's own (half stars 0.5-5, say).
        cutpoints: The increasing ordered-logit thresholds between consecutive levels,
            one fewer than the levels.
        trait_multipliers: Numeric value of each trait level.
        taste_family: The taste core's collaborative model (``ease``, ``item-knn`` or
            ``als``); ``compare --taste-families`` runs the arms under several.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    affinity: float = 1.0
    popularity: float = 0.0
    novelty: float = 0.0
    position_bias: float = Field(POSITION_BIAS, ge=0.0)
    no_click: float = 0.0
    page_size_cost: float = 1.6
    fatigue: float = 0.4
    exit_threshold: float = -0.6
    exit_slope: float = Field(3.0, ge=0.0)
    skip_satisfaction: float = -0.5
    rating_affinity: float = 0.1
    rating_quality: float = 0.78
    rating_user_bias: float = 1.8
    rating_neighbours: float = 1.7
    rating_levels: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    cutpoints: tuple[float, ...] = (-2.74, -1.3, 0.32, 2.08)
    trait_multipliers: dict[Level, float] = Field(
        default_factory=lambda: {Level.LOW: 0.5, Level.MEDIUM: 1.0, Level.HIGH: 1.5}
    )
    taste_family: Family = "ease"

    @field_validator("cutpoints")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"cutpoints must increase strictly, got {value}; sort them")
        return value

    @field_validator("rating_levels")
    @classmethod
    def _levels_increase(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) < 2 or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"rating_levels must be two or more increasing values, got {value}")
        return value

    @model_validator(mode="after")
    def _one_cutpoint_between_levels(self) -> UtilityParams:
        if len(self.cutpoints) != len(self.rating_levels) - 1:
            raise ValueError(
                f"cutpoints: {len(self.rating_levels)} rating levels need "
                f"{len(self.rating_levels) - 1} cutpoints, got {len(self.cutpoints)}"
            )
        return self

    def stars(self, rating: float | np.ndarray) -> float | np.ndarray:
        """A rating on the 1-5 star scale (the scale's ends at 1 and 5), for rules written
        in stars: memory importance, satisfaction."""
        low, high = self.rating_levels[0], self.rating_levels[-1]
        return 1.0 + 4.0 * (np.asarray(rating, dtype=float) - low) / (high - low)

    def multiplier(self, level: Level | str) -> float:
        """The numeric value of a trait level."""
        return self.trait_multipliers[Level(level)]
