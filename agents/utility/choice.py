"""A RecSim-style choice model over embeddings and traits: the policy with no LLM.

It is the baseline every LLM policy is compared with, and the choice for runs too large
for any LLM: a whole phase is a few numpy operations over (agents × slate) matrices.

Per page, a user picks at most one item by a multinomial logit over the page plus an
outside option (no click)::

    u_j = affinity·z(user, j) + popularity·conformity(user)·pop(j)
          + novelty·diversity(user)·(1 − pop(j)) − position_bias·log2(position)

where z is cos(user taste, item) standardised over the catalogue for that user. Raw
cosines of text embeddings sit at a dataset-dependent offset (shared words such as "the"
or "story"), so standardising makes the weights and the outside option mean the same on
every dataset: z = 1 is an item one standard deviation closer to the user's taste than
the average item.

A watched item is rated 1–5 by an ordered logit on ``rating_affinity·z(user, j) +
rating_quality·conformity(user)·quality(j)``, where quality is the item's shrunk mean
rating relative to the catalogue's: conformist users rate like the crowd (Agent4Rec). The
visit goes on with a probability that falls with every page seen (fatigue) and rises with
the rating just given (satisfaction).

Agents may not import ``simulator``; ``simulator.calibration`` fits ``UtilityParams`` to a
real dataset.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import sparse

from agents.actions.base import PageObservation, PageOutcome
from agents.profile import ItemProfile, Level, UserProfile
from agents.traits import History
from agents.user import UserAgent
from memory.embedders import Embedder, HashingEmbedder
from memory.records import MemoryKind, MemoryRecord
from simulator.types import Interaction, Reaction

N_RATINGS = 5
LIKED = 4.0
"""Ratings at or above this make up a user's taste vector."""
QUALITY_PRIOR = 5.0
"""Pseudo-ratings at the catalogue mean that shrink a rarely rated item's mean rating."""


class UtilityParams(BaseModel):
    """The weights of the choice, rating and exit models; ``calibrate`` fits some of them.

    The defaults are rounded from ``calibrate`` on MovieLens 100K (a page in five ends in
    a watch on popularity-leaning pages of ten; ratings distributed as in the data).

    Attributes:
        affinity: Weight of the standardised cos(user taste, item) in the click utility.
        popularity: Weight of item popularity, scaled by the user's conformity.
        novelty: Weight of item novelty (1 − popularity), scaled by the user's diversity.
        position_bias: Utility lost per doubling of the slot (0 in slot 1).
        no_click: Utility of the outside option; higher means fewer clicks.
        fatigue: Satisfaction lost per page seen in the visit.
        exit_threshold: Net satisfaction at which going on and leaving are even odds.
        exit_slope: How sharply the continue probability turns around the threshold.
        skip_satisfaction: Satisfaction of a page with nothing watched (a rating r gives
            (r − 3) / 2, in [−1, 1]).
        rating_affinity: Ordered-logit weight of the standardised cos(user, item).
        rating_quality: Ordered-logit weight of the item's relative mean rating (stars),
            scaled by the user's conformity.
        cutpoints: The four increasing ordered-logit thresholds between ratings 1..5.
        trait_multipliers: Numeric value of each trait level.
    """

    model_config = ConfigDict(frozen=True)

    affinity: float = 1.5
    popularity: float = 1.0
    novelty: float = 0.5
    position_bias: float = Field(0.3, ge=0.0)
    no_click: float = 5.0
    fatigue: float = 0.4
    exit_threshold: float = -0.6
    exit_slope: float = Field(3.0, ge=0.0)
    skip_satisfaction: float = -0.5
    rating_affinity: float = 0.3
    rating_quality: float = 1.5
    cutpoints: tuple[float, float, float, float] = (-2.9, -1.6, -0.1, 1.6)
    trait_multipliers: dict[Level, float] = Field(
        default_factory=lambda: {Level.LOW: 0.5, Level.MEDIUM: 1.0, Level.HIGH: 1.5}
    )

    @field_validator("cutpoints")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"cutpoints must increase strictly, got {value}; sort them")
        return value

    def multiplier(self, level: Level | str) -> float:
        return self.trait_multipliers[Level(level)]


@dataclass(frozen=True, slots=True)
class PageDecisions:
    """Vectorised decisions for n pages (arrays of length n).

    Attributes:
        choice: Slot picked, 1-based; 0 is no click.
        utility: Utility of the picked item (NaN without a click).
        probability: Probability of the option picked (the no-click one when 0).
        rating: 1–5, 0 without a click.
        next_page: Whether the visit goes on.
        no_click: Probability of the outside option (watching nothing on the page).
    """

    choice: np.ndarray
    utility: np.ndarray
    probability: np.ndarray
    rating: np.ndarray
    next_page: np.ndarray
    no_click: np.ndarray


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
    """Ordered-logit probabilities of ratings 1..5 for each latent score (… × 5)."""
    latent = np.asarray(latent, dtype=np.float64)
    cdf = _sigmoid(np.asarray(cutpoints, dtype=np.float64) - latent[..., None])
    ones = np.ones_like(latent)[..., None]
    return np.diff(np.concatenate([np.zeros_like(ones), cdf, ones], axis=-1), axis=-1)


def continue_probability(params: UtilityParams, page: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """Chance of browsing on after ``page``: falls with fatigue, rises with the rating."""
    satisfaction = np.where(rating > 0, (rating - 3.0) / 2.0, params.skip_satisfaction)
    net = satisfaction - params.fatigue * np.asarray(page, dtype=np.float64)
    return _sigmoid(params.exit_slope * (net - params.exit_threshold))


def standardise(cosine: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(cos − mean) / scale per row; 0 where the scale is (near) zero."""
    mean = np.asarray(mean, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if np.ndim(cosine) > np.ndim(mean):
        mean, scale = mean[..., None], scale[..., None]
    safe = np.where(scale > 1e-9, scale, 1.0)
    return np.where(scale > 1e-9, (cosine - mean) / safe, 0.0)


def item_text(title: str, genres: Sequence[str], description: str) -> str:
    """What an item is embedded from: title, genres and description."""
    return " ".join(part for part in (title, " ".join(genres), description or "") if part)


class UtilityModel:
    """Item and user matrices, computed once, and the vectorised choice model over them.

    Rows for users or items that the dataset did not have are added on first sight (a
    user from their favourite genres, an item from its text, with zero popularity).

    Args:
        params: The weights.
        embedder: Embeds item and genre text into L2-normalised rows.
        item_ids: Catalogue order of the item rows.
        item_vectors: n_items × d, L2-normalised.
        popularity: Log interaction count scaled to [0, 1], per item.
        quality: Shrunk mean rating minus the catalogue mean, in stars (0 when implicit).
        user_ids: Order of the user rows.
        user_vectors: n_users × d taste vectors, L2-normalised (zero when unknown).
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
    ) -> None:
        self.params = params
        self.embedder = embedder
        self.item_index = {str(i): row for row, i in enumerate(item_ids)}
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.quality = np.asarray(quality, dtype=np.float64)
        self.user_index = {str(u): row for row, u in enumerate(user_ids)}
        # Mean and covariance of the catalogue's vectors give every user's mean and spread
        # of cos(user, item) over the catalogue without an n_users × n_items product.
        catalogue = self.item_vectors.astype(np.float64)
        self.item_mean = catalogue.mean(axis=0) if len(catalogue) else np.zeros(catalogue.shape[1])
        centred = catalogue - self.item_mean
        self.item_cov = centred.T @ centred / max(1, len(catalogue))
        self.user_vectors = np.zeros((0, self.item_vectors.shape[1]), dtype=np.float32)
        self.user_mean = np.zeros(0)
        self.user_scale = np.zeros(0)
        self._append_users(np.asarray(user_vectors, dtype=np.float32))

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

        A user's taste is the mean embedding of their liked history (rating ≥ 4, or every
        interaction when the feedback is implicit); a user with history but nothing liked
        gets the embedding of their most frequent genres.
        """
        embedder = embedder or HashingEmbedder()
        items = dataset.items
        item_ids = items["item_id"].astype(str).tolist()
        texts = [
            item_text(str(t), tuple(g) if isinstance(g, list | tuple) else (), str(d or ""))
            for t, g, d in zip(items["title"], items["genres"], items["description"], strict=True)
        ]
        item_vectors = embedder.embed(texts)

        inter = dataset.interactions
        item_rows = pd.Index(item_ids).get_indexer(inter["item_id"].astype(str))
        inter = inter.assign(row=item_rows)[item_rows >= 0]
        counts = np.bincount(inter["row"], minlength=len(item_ids)).astype(np.float64)
        top = np.log1p(counts.max()) if len(counts) and counts.max() > 0 else 1.0
        popularity = np.log1p(counts) / top

        ratings = inter["rating"].to_numpy(dtype=np.float64)
        explicit = bool(np.isfinite(ratings).any())
        quality = np.zeros(len(item_ids))
        if explicit:
            rated = np.isfinite(ratings)
            sums = np.bincount(inter["row"][rated], weights=ratings[rated], minlength=len(counts))
            n = np.bincount(inter["row"][rated], minlength=len(counts))
            mean = float(ratings[rated].mean())
            quality = (sums + QUALITY_PRIOR * mean) / (n + QUALITY_PRIOR) - mean

        user_ids = dataset.users["user_id"].astype(str).tolist()
        user_codes = pd.Index(user_ids).get_indexer(inter["user_id"].astype(str))
        liked = (ratings >= LIKED) if explicit else np.ones(len(inter), dtype=bool)
        keep = liked & (user_codes >= 0)
        history = sparse.csr_matrix(
            (np.ones(int(keep.sum())), (user_codes[keep], inter["row"].to_numpy()[keep])),
            shape=(len(user_ids), len(item_ids)),
        )
        user_vectors = _normalise(np.asarray(history @ item_vectors, dtype=np.float32))

        # History but nothing liked: the genres they watch most, as text.
        has_any = np.bincount(user_codes[user_codes >= 0], minlength=len(user_ids)) > 0
        has_liked = np.asarray(history.sum(axis=1)).ravel() > 0
        fallback = np.flatnonzero(has_any & ~has_liked)
        if len(fallback):
            genres = _top_genres(inter, items, [user_ids[i] for i in fallback])
            user_vectors[fallback] = embedder.embed(
                [" ".join(genres[user_ids[i]]) for i in fallback]
            )
        known = has_liked | has_any
        model = cls(
            params or UtilityParams(),
            embedder,
            item_ids,
            item_vectors,
            popularity,
            quality,
            [u for u, k in zip(user_ids, known, strict=True) if k],
            user_vectors[known],
        )
        return model

    def with_params(self, params: UtilityParams) -> UtilityModel:
        """The same matrices under other weights.

        The arrays are shared, not copied (rows added later replace an instance's arrays
        rather than write into them); the id indexes are copied so each grows on its own.
        """
        other = object.__new__(UtilityModel)
        other.__dict__.update(self.__dict__)
        other.params = params
        other.item_index = dict(self.item_index)
        other.user_index = dict(self.user_index)
        return other

    # -- rows ------------------------------------------------------------------------

    def item_rows(self, items: Sequence[ItemProfile]) -> np.ndarray:
        """Row of each item, embedding (in one batch) those the catalogue lacked."""
        new = {i.item_id: i for i in items if i.item_id not in self.item_index}
        if new:
            vectors = self.embedder.embed(
                [item_text(i.title, i.genres, i.description) for i in new.values()]
            )
            start = len(self.item_vectors)
            self.item_vectors = np.vstack([self.item_vectors, vectors.astype(np.float32)])
            self.popularity = np.concatenate([self.popularity, np.zeros(len(new))])
            self.quality = np.concatenate([self.quality, np.zeros(len(new))])
            for offset, item_id in enumerate(new):
                self.item_index[item_id] = start + offset
        index = self.item_index
        return np.fromiter((index[i.item_id] for i in items), dtype=np.int64, count=len(items))

    def user_rows(self, profiles: Sequence[UserProfile]) -> np.ndarray:
        """Row of each user, embedding the favourite genres of those without history."""
        new = {p.user_id: p for p in profiles if p.user_id not in self.user_index}
        if new:
            texts = [" ".join(p.favourite_genres) for p in new.values()]
            vectors = self.embedder.embed(texts) if any(texts) else None
            if vectors is None:
                vectors = np.zeros((len(new), self.user_vectors.shape[1]), dtype=np.float32)
            start = self._append_users(vectors.astype(np.float32))
            for offset, user_id in enumerate(new):
                self.user_index[user_id] = start + offset
        index = self.user_index
        return np.fromiter(
            (index[p.user_id] for p in profiles), dtype=np.int64, count=len(profiles)
        )

    def _append_users(self, vectors: np.ndarray) -> int:
        """Add taste rows with their catalogue mean and spread; returns the first new row."""
        start = len(self.user_vectors)
        mean, scale = self.cosine_moments(vectors.astype(np.float64))
        self.user_vectors = np.vstack([self.user_vectors, vectors])
        self.user_mean = np.concatenate([self.user_mean, mean])
        self.user_scale = np.concatenate([self.user_scale, scale])
        return start

    def cosine_moments(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of cos(v, item) over the catalogue, per row v.

        A zero vector (no taste known) gets scale 0, and with it z = 0 for every item.
        """
        mean = vectors @ self.item_mean
        var = np.einsum("nd,nd->n", vectors @ self.item_cov, vectors)
        return mean, np.sqrt(np.maximum(var, 0.0))

    # -- the model -------------------------------------------------------------------

    def affinity(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Standardised cos(user taste, item) for n users × their k slots (rows of ``items``)."""
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.empty(items.shape, dtype=np.float64)
        # About 16 MB of gathered item vectors at a time.
        chunk = max(1, (4 << 20) // max(1, items.shape[1] * self.item_vectors.shape[1]))
        for start in range(0, len(users), chunk):
            stop = start + chunk
            taste = self.user_vectors[users[start:stop]]
            vectors = self.item_vectors[items[start:stop]]
            out[start:stop] = np.einsum("nd,nkd->nk", taste, vectors)
        return standardise(out, self.user_mean[users], self.user_scale[users])

    def click_utilities(
        self,
        affinity: np.ndarray,
        items: np.ndarray,
        conformity: np.ndarray,
        diversity: np.ndarray,
    ) -> np.ndarray:
        """Item utilities before position bias (n × k)."""
        p = self.params
        pop = self.popularity[items]
        return (
            p.affinity * affinity
            + p.popularity * conformity[:, None] * pop
            + p.novelty * diversity[:, None] * (1.0 - pop)
        )

    def position_bias(self, k: int) -> np.ndarray:
        """Utility added in slots 1..k (0, then falling by ``position_bias`` per doubling)."""
        return -self.params.position_bias * np.log2(np.arange(1, k + 1, dtype=np.float64))

    def rating_latent(
        self, affinity: np.ndarray, items: np.ndarray, conformity: np.ndarray
    ) -> np.ndarray:
        """The ordered-logit score of each (user, item): taste plus, for conformists, quality."""
        p = self.params
        conformity = np.asarray(conformity, dtype=np.float64)
        if np.ndim(affinity) > np.ndim(conformity):
            conformity = conformity[..., None]
        return p.rating_affinity * affinity + p.rating_quality * conformity * self.quality[items]

    def decide_pages(
        self,
        users: np.ndarray,
        items: np.ndarray,
        pages: np.ndarray,
        conformity: np.ndarray,
        diversity: np.ndarray,
        draws: np.ndarray,
        valid: np.ndarray | None = None,
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

        Returns:
            The decisions; the same inputs always give the same decisions.
        """
        n, k = items.shape
        affinity = self.affinity(users, items)
        utility = self.click_utilities(affinity, items, conformity, diversity)
        utility += self.position_bias(k)
        if valid is not None:
            utility = np.where(valid, utility, -np.inf)
        probs = choice_probabilities(utility, self.params.no_click)
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

        latent = self.rating_latent(affinity[rows, picked], items[rows, picked], conformity)
        cdf_rating = _sigmoid(np.asarray(self.params.cutpoints)[None, :] - latent[:, None])
        rating = 1 + (draws[:, 1:2] >= cdf_rating).sum(axis=1)
        rating = np.where(clicked, rating, 0)

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
        return PageDecisions(choice, chosen_utility, probability, rating, go_on, probs[:, 0])


class UtilityPolicy:
    """The ``Policy`` protocol without an LLM: one vectorised choice model per page round.

    Args:
        model: The choice model with its item and user matrices.
        seed: Only used where an observation carries fewer than two draws; the numbers
            then come from a generator seeded by (seed, user, step, page), so results stay
            deterministic.

    Randomness comes from ``observation.draws``: ``draws[0]`` picks the option (inverse
    CDF over no click, item 1..k), ``draws[1]`` the rating, and ``draws[2]`` (or, when
    absent, where ``draws[0]`` fell within the picked option's interval, which is uniform
    and independent of the pick) whether the visit goes on.
    """

    name = "utility"

    def __init__(self, model: UtilityModel, *, seed: int = 0) -> None:
        self.model = model
        self.seed = seed
        self._users: dict[str, tuple[int, float, float]] = {}
        self.last_click_probability = np.zeros(0)

    def decide(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[PageOutcome]:
        """One decision per agent, in order; no LLM at all."""
        if len(agents) != len(observations):
            raise ValueError(
                f"decide got {len(agents)} agents but {len(observations)} observations; "
                "pass one observation per agent"
            )
        if not agents:
            return []
        users, conformity, diversity = self._user_arrays(agents)
        k = max(len(o.items) for o in observations)
        lengths = np.fromiter((len(o.items) for o in observations), np.int64, len(observations))
        flat = [item for o in observations for item in o.items]
        rows = self.model.item_rows(flat)
        valid = None
        if (lengths == k).all():
            items = rows.reshape(len(observations), k)
        else:
            valid = np.arange(k)[None, :] < lengths[:, None]
            items = np.zeros((len(observations), k), dtype=np.int64)
            items[valid] = rows
        pages = np.fromiter((o.page for o in observations), np.float64, len(observations))
        draws = self._draws(agents, observations)
        decisions = self._decide(users, items, pages, conformity, diversity, draws, valid)
        self.last_click_probability = 1.0 - decisions.no_click  # for HybridPolicy's routing
        go_on = decisions.next_page & (lengths > 0)  # an empty page ends the visit
        return [
            _outcome(agent, obs, int(c), float(u), float(p), int(r), bool(g))
            for agent, obs, c, u, p, r, g in zip(
                agents,
                observations,
                decisions.choice,
                decisions.utility,
                decisions.probability,
                decisions.rating,
                go_on,
                strict=True,
            )
        ]

    def _decide(self, users, items, pages, conformity, diversity, draws, valid) -> PageDecisions:
        if items.shape[1] == 0:  # every page empty: nothing to pick
            n = len(users)
            return PageDecisions(
                np.zeros(n, np.int64),
                np.full(n, np.nan),
                np.ones(n),
                np.zeros(n, np.int64),
                np.zeros(n, bool),
                np.ones(n),
            )
        return self.model.decide_pages(users, items, pages, conformity, diversity, draws, valid)

    def _user_arrays(self, agents: Sequence[UserAgent]) -> tuple[np.ndarray, ...]:
        """User rows and trait multipliers, cached per user (profiles are frozen)."""
        cache = self._users
        missing = [a.profile for a in agents if a.user_id not in cache]
        if missing:
            unique = list({p.user_id: p for p in missing}.values())
            params = self.model.params
            for profile, row in zip(unique, self.model.user_rows(unique), strict=True):
                t = profile.traits
                cache[profile.user_id] = (
                    int(row),
                    params.multiplier(t.conformity),
                    params.multiplier(t.diversity),
                )
        values = np.array([cache[a.user_id] for a in agents], dtype=np.float64)
        return values[:, 0].astype(np.int64), values[:, 1], values[:, 2]

    def _draws(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> np.ndarray:
        """n × 3 uniforms: the world's draws, with missing ones derived deterministically."""
        out = np.full((len(observations), 3), np.nan)
        for i, (agent, obs) in enumerate(zip(agents, observations, strict=True)):
            d = obs.draws
            if len(d) >= 2:
                out[i, : min(len(d), 3)] = d[:3]
            else:
                key = f"{self.seed}:{agent.user_id}:{obs.step}:{obs.page}".encode()
                out[i] = np.random.default_rng(zlib.crc32(key)).random(3)
        return out


def _outcome(
    agent: UserAgent,
    obs: PageObservation,
    choice: int,
    utility: float,
    probability: float,
    rating: int,
    next_page: bool,
) -> PageOutcome:
    """Interaction rows and a memory, as ``PickAction`` writes them."""
    user_id = agent.user_id
    step, page = obs.step, obs.page
    item_ids = [item.item_id for item in obs.items]
    rows = _skip_rows(step, user_id, item_ids, page, obs.recommender)
    agent.seen.update(item_ids)
    if choice == 0:
        text, importance = f"Nothing on page {page} appealed to me.", 0.2
    else:
        item = obs.items[choice - 1]
        rows[choice - 1] = Interaction(
            step,
            user_id,
            item.item_id,
            page,
            choice,
            obs.recommender,
            Reaction.WATCH,
            float(rating),
            f"utility {utility:.2f}, p={probability:.2f}",
        )
        text, importance = f'I watched "{item.title}", {rating}/5', 0.3 + 0.35 * abs(rating - 3)
    memory = MemoryRecord(
        id=agent.next_memory_id(),
        owner=user_id,
        text=text,
        kind=MemoryKind.OBSERVATION,
        created=step,
        last_access=step,
        importance=importance,
    )
    return PageOutcome(interactions=rows, memories=[memory], next_page=next_page)


def _constructed_skip_rows(
    step: int, user_id: str, item_ids: Sequence[str], page: int, recommender: str
) -> list[Interaction]:
    skip = Reaction.SKIP
    return [
        Interaction(step, user_id, item, page, position, recommender, skip)
        for position, item in enumerate(item_ids, 1)
    ]


_INTERACTION_FIELDS = (
    "step", "user_id", "item_id", "page", "position", "recommender", "action", "rating",
    "reason", "feeling",
)  # fmt: skip


def _slot_skip_rows() -> Callable[..., list[Interaction]] | None:
    """A row builder that fills ``Interaction``'s slots directly, or None where unsafe.

    Skip rows are most of what the policy creates (nine in ten on a page of ten), and the
    frozen dataclass constructor costs about 5 µs a row here, as much as the whole choice
    model; filling the slots halves that. It is used only while ``Interaction`` is a
    plain slotted dataclass and the result equals the constructor's, checked at import.
    """
    fields = dataclasses.fields(Interaction)
    names = tuple(f.name for f in fields)
    if (
        names != _INTERACTION_FIELDS
        or hasattr(Interaction, "__post_init__")
        or not all(
            isinstance(Interaction.__dict__.get(n), types.MemberDescriptorType) for n in names
        )
    ):
        return None
    new = object.__new__
    s_step, s_user, s_item, s_page, s_pos, s_rec, s_action, s_rating, s_reason, s_feeling = (
        Interaction.__dict__[n].__set__ for n in names
    )
    rating, reason, feeling = (f.default for f in fields[7:])
    skip = Reaction.SKIP

    def build(
        step: int, user_id: str, item_ids: Sequence[str], page: int, recommender: str
    ) -> list[Interaction]:
        rows = []
        append = rows.append
        for position, item in enumerate(item_ids, 1):
            row = new(Interaction)
            s_step(row, step)
            s_user(row, user_id)
            s_item(row, item)
            s_page(row, page)
            s_pos(row, position)
            s_rec(row, recommender)
            s_action(row, skip)
            s_rating(row, rating)
            s_reason(row, reason)
            s_feeling(row, feeling)
            append(row)
        return rows

    sample = ("u", ["a", "b"], 3, "rec")
    same = build(1, *sample) == _constructed_skip_rows(1, *sample)
    return build if same else None


_skip_rows = _slot_skip_rows() or _constructed_skip_rows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _top_genres(
    inter: pd.DataFrame, items: pd.DataFrame, users: Sequence[str], top: int = 5
) -> dict[str, tuple[str, ...]]:
    """Each user's most frequent genres in their whole history."""
    subset = inter[inter["user_id"].astype(str).isin(set(users))]
    genres = items.set_index(items["item_id"].astype(str))["genres"]
    pairs = subset[["user_id"]].astype(str).assign(genre=subset["item_id"].astype(str).map(genres))
    pairs = pairs.explode("genre").dropna(subset=["genre"])
    counts = pairs.groupby(["user_id", "genre"]).size().reset_index(name="n")
    counts = counts.sort_values(["user_id", "n", "genre"], ascending=[True, False, True])
    found = {u: tuple(g["genre"].head(top)) for u, g in counts.groupby("user_id", sort=False)}
    return {u: found.get(u, ()) for u in users}
