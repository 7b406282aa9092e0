"""The choice model: which item a user picks on a page, how they rate it, whether they go on.

Per page, a user picks at most one item by a multinomial logit over the page plus an
outside option (no click)::

    u_j = affinity·ℓ(user, j) + popularity·(conformity(user) − 1)·pop(j)
          + novelty·(diversity(user) − 1)·(1 − pop(j)) − position_bias·log2(position)
    u_0 = no_click + page_size_cost·log(items on the page)

where ℓ is the taste core's preference logit (``agents.preferences``): the log-odds that
the user would choose the item rather than an unseen one. Shown one item alone, a user
says yes with probability σ(ℓ − no_click); the outside option grows with the page, so
the same user clicks on a page of ten about as often as real users do (``calibrate`` fits
``page_size_cost`` to a target click-through).

A watched item is rated on the scale's levels (``rating_levels``: 1–5 stars by default)
by an ordered logit on ``rating_affinity·ℓ(user, j) +
rating_quality·conformity(user)·quality(j) + rating_user_bias·bias(user)``, divided (with
the cutpoints) by the user's relative spread: quality is the item's shrunk mean rating
relative to the catalogue's, so conformist users rate like the crowd (Agent4Rec); bias and
spread are the user's own habits, so generous, harsh and flat raters stay themselves. The
visit goes on with a probability that falls with every page seen (fatigue) and rises with
the rating just given (satisfaction).

``UtilityModel`` does this for a whole round of pages at once, as a few numpy operations
over (pages × slate) matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from agents.neighbours import RatedNeighbours
from agents.page import slot_utilities
from agents.preferences import TasteCore, TasteFit, holdout_liked, time_matrix
from agents.traits import History
from agents.utility.features import Features, feature_arrays
from agents.utility.params import UtilityParams
from memory.embedders import Embedder, HashingEmbedder


@dataclass(frozen=True, slots=True)
class PageDecisions:
    """Vectorised decisions for n pages (arrays of length n).

    Attributes:
        choice: Slot picked, 1-based; 0 is no click.
        utility: Utility of the picked item (NaN without a click).
        probability: Probability of the option picked (the no-click one when 0).
        rating: The rating's value (one of ``rating_levels``), 0 without a click.
        next_page: Whether the visit goes on.
        options: n × (k + 1) probabilities of (no click, slot 1, ..., slot k): what the
            hybrid policy pools with the LLM's answer.
    """

    choice: np.ndarray
    utility: np.ndarray
    probability: np.ndarray
    rating: np.ndarray
    next_page: np.ndarray
    options: np.ndarray

    @property
    def no_click(self) -> np.ndarray:
        """Probability of the outside option (watching nothing on the page)."""
        return self.options[:, 0]


def choice_probabilities(utilities: np.ndarray, no_click: float | np.ndarray) -> np.ndarray:
    """Multinomial-logit probabilities of (no click, item 1, ..., item k) per row.

    Args:
        utilities: n × k item utilities; ``-inf`` (or NaN) marks an empty slot.
        no_click: The outside option's utility, a scalar or one per row.

    Returns:
        n × (k + 1) rows summing to 1; column 0 is the outside option.
    """
    u = np.asarray(utilities, dtype=np.float64)
    u = np.where(np.isnan(u), -np.inf, u)
    outside = np.broadcast_to(np.asarray(no_click, dtype=np.float64), u.shape[:1])
    full = np.concatenate([outside[:, None], u], axis=1)
    full = full - full.max(axis=1, keepdims=True)
    weights = np.exp(full)
    return weights / weights.sum(axis=1, keepdims=True)


def rating_probabilities(latent: np.ndarray, cutpoints: Sequence[float]) -> np.ndarray:
    """Ordered-logit probabilities of each rating level for each latent score (… × levels)."""
    latent = np.asarray(latent, dtype=np.float64)
    cdf = _sigmoid(np.asarray(cutpoints, dtype=np.float64) - latent[..., None])
    ones = np.ones_like(latent)[..., None]
    return np.diff(np.concatenate([np.zeros_like(ones), cdf, ones], axis=-1), axis=-1)


def continue_probability(params: UtilityParams, page: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """Chance of browsing on after ``page``: falls with fatigue, rises with the rating."""
    satisfaction = np.where(
        rating > 0, (params.stars(rating) - 3.0) / 2.0, params.skip_satisfaction
    )
    net = satisfaction - params.fatigue * np.asarray(page, dtype=np.float64)
    return _sigmoid(params.exit_slope * (net - params.exit_threshold))


class UtilityModel(Features):
    """The feature matrices under one set of weights, and the vectorised decisions.

    Args:
        params: The weights.
        embedder, item_ids, item_vectors, popularity, quality, user_ids, user_vectors:
            The matrices, as ``Features`` takes them.
    """

    def __init__(
        self,
        params: UtilityParams,
        embedder: Embedder,
        item_ids: Sequence[str],
        item_vectors: np.ndarray,
        popularity: np.ndarray,
        quality: np.ndarray,
        user_ids: Sequence[str],
        user_vectors: np.ndarray,
        user_bias: np.ndarray | None = None,
        user_spread: np.ndarray | None = None,
        *,
        taste: TasteCore | None = None,
    ) -> None:
        self.params = params
        super().__init__(
            embedder,
            item_ids,
            item_vectors,
            popularity,
            quality,
            user_ids,
            user_vectors,
            user_bias,
            user_spread,
        )
        self.taste = taste
        self.taste_fit: TasteFit | None = None
        self.neighbours: RatedNeighbours | None = None
        self.rated: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(user rows, item rows, ratings) of the log's ratings, in log order."""
        self._rated_preferences: np.ndarray | None = None
        self._habits: tuple[UtilityParams, np.ndarray] | None = None

    @classmethod
    def from_dataset(
        cls,
        dataset: History,
        params: UtilityParams | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> UtilityModel:
        """Build item and taste matrices from a dataset's catalogue and history.

        Args:
            dataset: A ``simulator.dataset.Dataset`` (or anything with its frames).
            params: The weights; defaults to ``UtilityParams()``.
            embedder: Defaults to ``HashingEmbedder()``: no model, so large runs start fast.
        """
        embedder = embedder or HashingEmbedder()
        arrays = feature_arrays(dataset, embedder)
        model = cls(params or UtilityParams(), embedder, *arrays[:-1])
        inter = dataset.interactions
        users = inter["user_id"].astype(str).map(model.user_index)
        items = inter["item_id"].astype(str).map(model.item_index)
        known = (users.notna() & items.notna()).to_numpy()
        rated = known & np.isfinite(inter["rating"].to_numpy(dtype=np.float64))
        rating_matrix = None
        if rated.any():
            rows = users.to_numpy()[rated].astype(np.int64)
            cols = items.to_numpy()[rated].astype(np.int64)
            values = inter["rating"].to_numpy(dtype=np.float64)[rated]
            rating_matrix = sparse.csr_matrix((values, (rows, cols)), shape=arrays.history.shape)
            model.rated = (rows, cols, values)
        times = None
        # Ordinal timestamps (each user's 0, 1, 2…) are no clock the users share.
        if "timestamp" in inter.columns and dataset.meta.get("timestamp") != "ordinal":
            times = time_matrix(
                users.to_numpy()[known].astype(np.int64),
                items.to_numpy()[known].astype(np.int64),
                pd.to_numeric(inter["timestamp"], errors="coerce").to_numpy()[known],
                arrays.history.shape,
            )
        holdout = holdout_liked(
            dataset.interactions, model.user_index, model.item_index, np.random.default_rng(0)
        )
        model.taste, model.taste_fit = TasteCore.fit(
            arrays.history,
            model.item_vectors,
            model.popularity,
            holdout=sparse.csr_matrix(
                (np.ones(len(holdout[0])), holdout), shape=arrays.history.shape
            ),
            fallback=model.affinity,
            item_moments=(model.item_mean, model.item_cov),
            family=model.params.taste_family,
            ratings=rating_matrix,
            times=times,
        )
        model.neighbours = RatedNeighbours.from_ratings(
            arrays.history,
            users.to_numpy()[known].astype(np.int64),
            items.to_numpy()[known].astype(np.int64),
            inter["rating"].to_numpy(dtype=np.float64)[known],
        )
        return model

    def with_params(self, params: UtilityParams) -> UtilityModel:
        """The same matrices under other weights.

        The arrays are shared, not copied (rows added later replace an instance's arrays
        rather than write into them); the id indexes are copied so each grows on its own.
        """
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.params = params
        other.item_index = dict(self.item_index)
        other.user_index = dict(self.user_index)
        return other

    def _items_added(self, vectors: np.ndarray) -> None:
        if self.taste is not None:
            self.taste.add_items(vectors)

    def preference(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The taste core's preference logit for n users × their k items; without a taste
        core (a model built by hand), the standardised text affinity."""
        if self.taste is None:
            return self.affinity(users, items)
        return self.taste.logit(users, items)

    def preference_left_out(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The preference logit of n (user, item) pairs from the history, as if the item
        had not been chosen yet (``TasteCore.logit_left_out``)."""
        if self.taste is None:
            return self.affinity(users, np.asarray(items)[:, None])[:, 0]
        return self.taste.logit_left_out(users, items)

    def click_utilities(
        self,
        preference: np.ndarray,
        items: np.ndarray,
        conformity: np.ndarray,
        diversity: np.ndarray,
    ) -> np.ndarray:
        """Item utilities before position bias (n × k)."""
        p = self.params
        pop = self.popularity[items]
        return (
            p.affinity * preference
            + p.popularity * (conformity[:, None] - 1.0) * pop
            + p.novelty * (diversity[:, None] - 1.0) * (1.0 - pop)
        )

    def outside_option(self, filled: np.ndarray | int) -> np.ndarray:
        """Utility of watching nothing on a page with ``filled`` items."""
        k = np.maximum(np.asarray(filled, dtype=np.float64), 1.0)
        return self.params.no_click + self.params.page_size_cost * np.log(k)

    def position_bias(self, k: int) -> np.ndarray:
        """Utility added in slots 1..k (0, then falling by ``position_bias`` per doubling)."""
        return slot_utilities(k, self.params.position_bias)

    def rating_latent(
        self, users: np.ndarray, preference: np.ndarray, items: np.ndarray, conformity: np.ndarray
    ) -> np.ndarray:
        """The ordered-logit score of each (user, item), in units of the user's spread:
        preference, quality (for conformists more), the user's own bias, and their verdicts
        on the item's nearest neighbours."""
        p = self.params
        users = np.asarray(users)
        conformity = np.asarray(conformity, dtype=np.float64)
        bias, spread = self.user_bias[users], self.user_spread[users]
        if np.ndim(preference) > np.ndim(conformity):
            conformity, bias, spread = conformity[..., None], bias[..., None], spread[..., None]
        latent = (
            p.rating_affinity * preference
            + p.rating_quality * conformity * self.quality[items]
            + p.rating_user_bias * bias
        )
        if p.rating_neighbours and self.neighbours is not None:
            latent = latent + p.rating_neighbours * self.verdicts(users, items)
        return latent / spread

    def verdicts(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The user's own verdicts on each item's nearest neighbours (``agents.neighbours``);
        0 for a model built by hand. ``items`` is n or n × k for n users."""
        if self.neighbours is None:
            return np.zeros(np.shape(items))
        items = np.asarray(items)
        if items.ndim == 1:
            return self.neighbours.verdicts(users, items[:, None])[:, 0]
        return self.neighbours.verdicts(users, items)

    def rating_cutpoints(self, users: np.ndarray) -> np.ndarray:
        """The cutpoints in units of each user's spread: n × (levels − 1)."""
        spread = self.user_spread[np.asarray(users)]
        return np.asarray(self.params.cutpoints)[None, :] / spread[:, None]

    def rating_distribution(
        self, users: np.ndarray, preference: np.ndarray, items: np.ndarray, conformity: np.ndarray
    ) -> np.ndarray:
        """Probabilities of each rating level for n (user, item) pairs: n × levels.

        The ordered logit's answer, times the user's level habits (``level_habits``)."""
        users = np.asarray(users)
        probs = self._ordered_logit(users, preference, items, conformity) * self.level_habits(users)
        return probs / probs.sum(axis=1, keepdims=True)

    def _ordered_logit(
        self, users: np.ndarray, preference: np.ndarray, items: np.ndarray, conformity: np.ndarray
    ) -> np.ndarray:
        latent = self.rating_latent(users, preference, items, conformity)
        cdf = _sigmoid(self.rating_cutpoints(users) - latent[:, None])
        ones = np.ones((len(latent), 1))
        return np.diff(np.concatenate([np.zeros_like(ones), cdf, ones], axis=1), axis=1)

    def rated_preferences(self) -> np.ndarray:
        """The preference logit of each of ``rated``'s pairs as if the item were not yet in
        the user's history (``preference_left_out``), computed once: the rating fit and the
        level habits both need it, and it does not depend on the weights."""
        if self._rated_preferences is None:
            users, items, _ = self.rated or (np.zeros(0, np.int64),) * 3
            out = np.empty(len(users))
            for begin in range(0, len(users), 50_000):
                part = slice(begin, begin + 50_000)
                out[part] = self.preference_left_out(users[part], items[part])
            self._rated_preferences = out
        return self._rated_preferences

    def level_habits(self, users: np.ndarray) -> np.ndarray:
        """How much more often each user gives each rating level than the ordered logit
        expects of them: n × levels, 1 for users without ratings.

        Users differ in how they use a scale beyond being generous or harsh: some never
        give half stars, some give only 1 or 5. For each user, the ratings they gave are
        counted per level and set against the ordered logit's expected count on the same
        items; the ratio, shrunk towards 1 by ``HABIT_PRIOR`` ratings, multiplies their
        rating distribution. Because it is measured against the model's own expectation, it
        leaves the user's mean to the ordered logit and corrects only the shape.
        """
        users = np.asarray(users, dtype=np.int64)
        if self._habits is None or self._habits[0] is not self.params:
            self._habits = (self.params, self._fit_level_habits())
        habits = self._habits[1]
        out = np.ones((len(users), len(self.params.rating_levels)))
        known = users < len(habits)
        out[known] = habits[users[known]]
        return out

    def _fit_level_habits(self) -> np.ndarray:
        levels = np.asarray(self.params.rating_levels)
        habits = np.ones((len(self.user_bias), len(levels)))
        if self.rated is None:
            return habits
        users, items, ratings = self.rated
        preferences = self.rated_preferences()
        expected = np.zeros_like(habits)
        for begin in range(0, len(users), 50_000):
            part = slice(begin, begin + 50_000)
            u, i = users[part], items[part]
            probs = self._ordered_logit(u, preferences[part], i, np.ones(len(u)))
            np.add.at(expected, u, probs)
        level = np.abs(ratings[:, None] - levels[None, :]).argmin(axis=1)
        given = np.zeros_like(habits)
        np.add.at(given, (users, level), 1.0)
        count = given.sum(axis=1, keepdims=True)
        share = np.maximum(expected / np.maximum(count, 1.0), 1e-3)
        rated = count[:, 0] > 0
        habits[rated] = ((given + HABIT_PRIOR * share) / (expected + HABIT_PRIOR * share))[rated]
        return habits

    def decide_pages(
        self,
        users: np.ndarray,
        items: np.ndarray,
        pages: np.ndarray,
        conformity: np.ndarray,
        diversity: np.ndarray,
        draws: np.ndarray,
        valid: np.ndarray | None = None,
        preference: np.ndarray | None = None,
    ) -> PageDecisions:
        """Choose, rate and go on or leave, for n pages at once.

        Args:
            users: User row per page (n).
            items: Item rows per slot (n × k).
            pages: Page number within the visit, 1-based (n).
            conformity: Numeric conformity multiplier per page's user (n).
            diversity: Numeric diversity multiplier per page's user (n).
            draws: n × 2 or n × 3 uniforms in [0, 1): the click, the rating and going on;
                a missing (or NaN) third is derived from the first.
            valid: n × k mask of filled slots (pages shorter than k); all by default.
            preference: The pages' ``preference`` logits (n × k), when the caller keeps
                them (a simulation that shows users the same items again and again).

        Returns:
            The decisions; the same inputs always give the same decisions.
        """
        n, k = items.shape
        if preference is None:
            preference = self.preference(users, items)
        utility = self.click_utilities(preference, items, conformity, diversity)
        utility += self.position_bias(k)
        if valid is not None:
            utility = np.where(valid, utility, -np.inf)
        filled = valid.sum(axis=1) if valid is not None else k
        probs = choice_probabilities(utility, self.outside_option(filled))
        cdf = np.cumsum(probs, axis=1)
        choice = np.minimum((cdf <= draws[:, :1]).sum(axis=1), k)
        if valid is not None:  # rounding can land past the last filled slot
            last = valid.sum(axis=1)
            choice = np.minimum(choice, last)
        rows = np.arange(n)
        picked = np.maximum(choice - 1, 0)
        clicked = choice > 0
        chosen_utility = np.where(clicked, utility[rows, picked], np.nan)
        probability = probs[rows, choice]

        latent = self.rating_latent(
            users, preference[rows, picked], items[rows, picked], conformity
        )
        cdf_rating = _sigmoid(self.rating_cutpoints(users) - latent[:, None])
        level = (draws[:, 1:2] >= cdf_rating).sum(axis=1)
        rating = np.where(clicked, np.asarray(self.params.rating_levels)[level], 0.0)

        go_on_draw = draws[:, 2] if draws.shape[1] > 2 else np.full(n, np.nan)
        missing = np.isnan(go_on_draw)
        if missing.any():
            # Where draws[0] fell inside the picked option's interval: uniform on [0, 1)
            # and independent of the pick, so one draw serves both.
            width = probability[missing]
            lower = cdf[rows[missing], choice[missing]] - width
            with np.errstate(divide="ignore", invalid="ignore"):
                residual = (draws[missing, 0] - lower) / width
            residual = np.where(width > 0, residual, draws[missing, 0])
            go_on_draw = go_on_draw.copy()
            go_on_draw[missing] = np.clip(residual, 0.0, np.nextafter(1.0, 0.0))
        go_on = go_on_draw < continue_probability(self.params, pages, rating)
        return PageDecisions(choice, chosen_utility, probability, rating, go_on, probs)


HABIT_PRIOR = 10.0
"""Ratings' worth of the ordered logit's own shares that shrink a user's level habits."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
