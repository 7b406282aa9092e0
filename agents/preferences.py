"""The taste core: each simulated user's learned preferences, shared by every policy.

A user's preference for an item is one logit, ``P(the user would choose it) = σ(logit)``,
from these signals:

* **collaborative**: one model family of ``agents.collaborative`` over the binary log,
  EASE by default (Steck, 2019; item-kNN and ALS are the others); a user's raw score for
  an item is standardised over the catalogue for that user (so a long history does not
  inflate it);
* **content**: the standardised cosine of the item's text embedding to the mean
  embedding of the user's history (standardised over the catalogue, as
  ``agents.utility.features`` does), which also covers new items; users without history
  get the ``fallback`` content score (their favourite genres' text, in the utility model);
* **popularity**: the item's log interaction count, scaled to [0, 1];
* **uncovered**: 1 for an item that has interactions but no collaborative column (past
  ``max_items``), whose collaborative score is then unknown (0, the user's mean). An item
  nobody has chosen yet (never seen in training, or added later) is not flagged: its
  unknown collaborative score is the same 0, and it is told apart only by its popularity,
  neighbourhood and content. A flag on never-seen items would learn what the fit's split
  does to them (a held-out item chosen by nobody else is never seen once held out), and
  use "nobody has chosen it" as a sign of relevance;
* **neighbourhood**: the item-kNN score, log(1 + Σ similarity) over the item's 50 nearest
  items (shrunk cosine, ``agents.neighbours``) that the user has. EASE and kNN err
  differently (on MovieLens their rank average beats both), so the fit weighs both;
* **quality**: the item's mean rating shrunk by ``QUALITY_PRIOR`` ratings, in standard
  deviations of all ratings (0 for implicit feedback): liked items are good ones;
* **popularity gap**: how far the item's popularity is from the mean popularity of the
  user's history: niche users pass over blockbusters and mainstream users over the tail;
* **time gap**: how far the item's mean interaction time is from the user's;
* **arrival gap**: how long after the user's last interaction the item's first one came
  (0 when it came before): nobody chooses an item that did not exist yet while they were
  active. On MovieLens latest-small a quarter of the unseen items of a liked item's
  popularity arrived after the user had left, against one liked item in twenty-five.

Nothing here is tuned to one dataset by hand. The fit holds out liked items (up to
``HELD_PER_USER`` per user, at random) and chooses the family's setting (EASE's λ among a
few multiples of the mean item count, say) by how well the collaborative score ranks
those held-out items above unseen items of the same popularity: it is chosen for taste,
with popularity left to its own weight. It then learns the logit on each held-out item
against ``NEGATIVES`` unseen items drawn uniformly from the catalogue and ``MATCHED`` of
the same popularity, so popularity counts as much as it predicts and no more, from two
models of the same features: a logistic regression and boosted trees with monotone
constraints, which find what a sum cannot (an unseen film everyone has seen is one the
user passed over). Their mix is chosen by out-of-fold AUC over folds of users, so a small
dataset keeps the logistic alone. The logit is shifted by the out-of-fold equal-error
point: asked about as many liked items as unseen ones, a user says yes about half the
time, and ``σ(logit) ≥ 0.5`` is that yes. Then every model is refitted on the whole log.

The catalogue the collaborative model covers is capped (``max_items``, the most interacted
items): EASE inverts an n × n matrix, which costs n³. Items outside it, and items added
later, are scored by content and popularity alone (the uncovered ones with a weight of
their own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier

from agents import collaborative
from agents.collaborative import Collaborative, Family
from agents.neighbours import ItemNeighbours

ContentScore = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(user rows, item rows n × k) -> n × k`` standardised content affinity."""


Moments = tuple[np.ndarray, np.ndarray]
"""Mean vector and covariance matrix of a catalogue's item embeddings."""


def catalogue_moments(vectors: np.ndarray) -> Moments:
    """Mean and covariance of a catalogue's item vectors. With them, any vector's mean and
    spread of cosines over the catalogue need no vectors × items product."""
    catalogue = np.asarray(vectors, dtype=np.float64)
    mean = catalogue.mean(axis=0) if len(catalogue) else np.zeros(catalogue.shape[1])
    centred = catalogue - mean
    return mean, centred.T @ centred / max(1, len(catalogue))


def cosine_moments(vectors: np.ndarray, moments: Moments) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of cos(v, item) over the catalogue, per row v.

    A zero vector (no taste known) gets scale 0, and with it z = 0 for every item.
    """
    mean, cov = moments
    var = np.einsum("nd,nd->n", vectors @ cov, vectors)
    return vectors @ mean, np.sqrt(np.maximum(var, 0.0))


def _no_content(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.zeros(np.shape(items))


SIGNALS = (
    "collaborative",
    "content",
    "popularity",
    "uncovered",
    "neighbourhood",
    "quality",
    "popularity gap",
    "time gap",
    "arrival gap",
)
"""What ``TasteCore.signals`` gives for every (user, item) pair."""
FEATURES = (
    *SIGNALS,
    "collaborative x depth",
    "content x depth",
    "popularity x depth",
    "popularity squared",
    "depth",
)
"""The logit's features, in the order of ``TasteCore.weights`` (after the intercept): the
signals, then three of them times the user's depth (log history size, centred), so a user
with a long history can lean on it and one with a short history on content and
popularity."""
DEFAULT_WEIGHTS = (0.0, 1.0, 1.0, 0.5) + (0.0,) * (len(FEATURES) - 3)
"""Intercept and weights for data too small to learn from: taste and content alike, some
popularity."""
KNN_NEIGHBOURS = 50
KNN_SHRINK = 10.0
"""The neighbourhood signal's similarity, as the item-kNN recommender computes it: each
item's 50 nearest by cosine, shrunk by 10 so that pairs seen together rarely count less."""

QUALITY_PRIOR = 5.0
"""Pseudo-ratings at everyone's mean that shrink a rarely rated item's mean rating."""
HELD_PER_USER = 3
"""Liked items held out per user to fit the logit on: at most this many and a fifth of
the user's interactions, at least one from every user with two or more."""
NEGATIVES = 8
MATCHED = 4
"""Unseen items against each held-out one when the logit is fitted: ``NEGATIVES`` drawn
uniformly from the catalogue and ``MATCHED`` among the ten nearest to it in popularity.
The matched ones make taste tell liked from unseen items where popularity cannot; the
uniform ones, twice as many, keep the long tail ranked low (with as many of each, a user's
top items on MovieLens latest-small were no better than item-kNN's)."""
MONOTONE = {
    "collaborative": 1,
    "content": 1,
    "neighbourhood": 1,
    "quality": 1,
    "popularity gap": -1,
    "time gap": -1,
    "arrival gap": -1,
}
"""Directions the boosted trees must keep (the rest are free): more taste, similarity
or quality never lowers the logit, nor does an item closer to the user's usual
popularity."""
FOLDS = 4
"""Folds of users whose out-of-fold logits place the yes/no threshold and the fit's AUC."""


@dataclass(frozen=True)
class TasteFit:
    """How the taste core was fitted, for reports and tests.

    Attributes:
        family: The collaborative model family.
        setting: Its chosen setting (EASE's λ, kNN's neighbours, ALS's regularisation).
        weights: Intercept, then one weight per entry of ``FEATURES``.
        holdout_auc: AUC of the logit on the held-out items against their negatives,
            each user's scored by the models fitted on the other fold.
        holdout_users: Held-out (user, item) pairs the logit is fitted on.
        covered_items: Items the collaborative model covers.
        threshold: The combined score the logit subtracts (the out-of-fold equal-error
            point), so that 0 divides yes from no.
        popularity_auc: AUC of popularity alone on the same pairs: what taste adds is
            the difference.
        tree_share: The boosted trees' share of the logit (the rest is the logistic
            model's), chosen by out-of-fold AUC: 0 where the data is too small for trees.
    """

    family: Family
    setting: float
    weights: tuple[float, ...]
    holdout_auc: float
    holdout_users: int
    covered_items: int
    threshold: float = 0.0
    popularity_auc: float = float("nan")
    tree_share: float = 0.0


class TasteCore:
    """Preference logits for (user row, item row) pairs.

    Rows are those of the ``history`` matrix the core is built on (users × catalogue items,
    1 where the user interacted); rows past its end (users or items added later) have no
    history and no collaborative column, and are scored by content and popularity.

    Args:
        history: n_users × n_items binary CSR matrix.
        item_vectors: n_items × d text embeddings, L2-normalised.
        popularity: Per catalogue item, log count scaled to [0, 1].
        family: The collaborative model family (``agents.collaborative.FAMILIES``).
        setting: Its setting: EASE's λ, kNN's neighbours, ALS's regularisation.
        max_items: At most this many (most interacted) items get a collaborative column.
        weights: Intercept and one weight per ``FEATURES``; ``fit`` learns them. The
            defaults (taste and content alike, some popularity) serve data too small to
            learn from.
        fallback: Content affinity for users without history (rows past ``history``'s
            end, or empty rows).
        item_moments: ``catalogue_moments(item_vectors)``, when the caller has them.
        seed: Seeds the families that draw (ALS's initial factors).
    """

    def __init__(
        self,
        history: sparse.csr_matrix,
        item_vectors: np.ndarray,
        popularity: np.ndarray,
        *,
        family: Family = "ease",
        setting: float,
        max_items: int = 6000,
        weights: tuple[float, ...] | None = None,
        fallback: ContentScore = _no_content,
        item_moments: Moments | None = None,
        seed: int = 0,
        neighbours: ItemNeighbours | None = None,
        ratings: sparse.csr_matrix | None = None,
        times: sparse.csr_matrix | None = None,
        trees: HistGradientBoostingClassifier | None = None,
        tree_share: float = 0.0,
        offset: float = 0.0,
    ) -> None:
        self.history = history.tocsr().astype(np.float32)
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self._item_moments = item_moments or catalogue_moments(self.item_vectors)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.fallback = fallback
        self.weights = np.asarray(weights or DEFAULT_WEIGHTS, dtype=np.float64)
        self.trees = trees
        self.tree_share = tree_share if trees is not None else 0.0
        self.offset = offset
        counts = np.asarray(self.history.sum(axis=0)).ravel()
        order = np.argsort(-counts, kind="stable")
        covered = order[: min(max_items, int((counts > 0).sum()))]
        self.columns = np.full(self.history.shape[1], -1, dtype=np.int64)
        self.columns[covered] = np.arange(len(covered))
        self._covered = covered
        self._seen = counts > 0
        self.collaborative: Collaborative = collaborative.build(
            family, self.history[:, covered].tocsr(), setting, seed
        )
        self.neighbours = neighbours or ItemNeighbours(
            self.history, max_items=max_items, k=KNN_NEIGHBOURS, shrink=KNN_SHRINK
        )
        self._fit_content()
        self.quality = _quality(ratings, self.history.shape[1])
        self.item_time, self.user_time = _mean_times(times, self.history.shape)
        self.item_first, self.user_last = _first_and_last(times, self.history.shape)
        counts_per_user = np.asarray(self.history.sum(axis=1)).ravel()
        self.user_popularity = np.divide(
            self.history @ self.popularity,
            counts_per_user,
            out=np.full(len(counts_per_user), np.nan),
            where=counts_per_user > 0,
        )
        sizes = np.log1p(np.asarray(self.history.sum(axis=1)).ravel())
        self._depth_centre = float(sizes[sizes > 0].mean()) if (sizes > 0).any() else 0.0
        self.depth = sizes - self._depth_centre

    def _fit_content(self) -> None:
        """Each user's mean history embedding, and its catalogue mean and spread of cosines."""
        self._taste_sums = np.asarray(self.history @ self.item_vectors.astype(np.float64))
        self.taste, self.taste_mean, self.taste_scale = self._standardised(self._taste_sums)

    def _standardised(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit taste vectors from summed embeddings, with their catalogue mean and spread."""
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        taste = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
        return (taste, *cosine_moments(taste, self._item_moments))

    @classmethod
    def fit(
        cls,
        history: sparse.csr_matrix,
        item_vectors: np.ndarray,
        popularity: np.ndarray,
        *,
        holdout: sparse.csr_matrix,
        seed: int = 0,
        max_items: int = 6000,
        fallback: ContentScore = _no_content,
        item_moments: Moments | None = None,
        family: Family = "ease",
        ratings: sparse.csr_matrix | None = None,
        times: sparse.csr_matrix | None = None,
    ) -> tuple[TasteCore, TasteFit]:
        """Choose the family's setting and the signal weights on held-out items, then fit
        on everything.

        Args:
            history: n_users × n_items binary matrix of every interaction.
            item_vectors: n_items × d text embeddings, L2-normalised.
            popularity: Per item, log count scaled to [0, 1].
            holdout: Same shape; one held-out liked item per user at most (its entry is
                also in ``history``). With too few: default weights, λ from the counts.
            seed: Seeds the negatives (and ALS).
            max_items: The collaborative model covers at most this many items.
            fallback: Content affinity for users without history.
            item_moments: ``catalogue_moments(item_vectors)``, when the caller has them;
                computed once here otherwise, for every candidate core alike.
            family: The collaborative model family.
            ratings: Same shape as ``history``: the explicit ratings (stored entries
                only), for the items' quality; None for implicit feedback.
            times: Same shape: when each interaction happened (``time_matrix``), for the
                time gap; None when the data has no clock.
        """
        moments = item_moments or catalogue_moments(item_vectors)
        shared = {
            "max_items": max_items,
            "fallback": fallback,
            "item_moments": moments,
            "family": family,
            "seed": seed,
        }
        history = history.tocsr()
        counts = np.asarray(history.sum(axis=0)).ravel()
        base = max(1.0, float(counts[counts > 0].mean()) if (counts > 0).any() else 1.0)
        users, items = holdout.nonzero()
        if len(users) < 20:
            setting = collaborative.default_setting(family, base)
            core = cls(
                history,
                item_vectors,
                popularity,
                setting=setting,
                ratings=ratings,
                times=times,
                **shared,
            )
            fit = TasteFit(family, setting, tuple(core.weights), float("nan"), len(users), 0)
            return core, fit
        train = (history - history.multiply(holdout > 0)).tocsr()
        train.eliminate_zeros()
        train_ratings = None
        if ratings is not None:
            train_ratings = (ratings - ratings.multiply(holdout > 0)).tocsr()
            train_ratings.eliminate_zeros()
        train_times = None
        if times is not None:
            train_times = (times - times.multiply(holdout > 0)).tocsr()
            train_times.eliminate_zeros()
        rng = np.random.default_rng(seed)
        negatives = _negatives(train, users, items, rng)
        # Popularity as the fit sees it: without the held-out interactions themselves, as a
        # held-out item's is when it is asked about (counting them leaked one interaction
        # into every positive, and the yes threshold was set on positives a little more
        # popular than any asked about later).
        train_counts = np.asarray(train.sum(axis=0)).ravel()
        seen_popularity = np.log1p(train_counts) / max(np.log1p(train_counts.max()), 1e-12)
        matched = _matched(train, users, items, train_counts, rng, MATCHED)
        best = None
        near = ItemNeighbours(train, max_items=max_items, k=KNN_NEIGHBOURS, shrink=KNN_SHRINK)
        for setting in collaborative.candidate_settings(family, base):
            core = cls(
                train,
                item_vectors,
                seen_popularity,
                setting=setting,
                neighbours=near,
                ratings=train_ratings,
                times=train_times,
                **shared,
            )
            taste = core.signals(users, np.column_stack([items, matched[:, :1]]))[0]
            auc = _auc(taste[:, :1], taste[:, 1:])
            if best is None or auc > best[0]:
                best = (auc, core)
        _, core = best
        negatives = np.column_stack([negatives, matched])
        signals = core.signals(users, np.column_stack([items, negatives]))
        features = core.features(users, signals)  # users × (1 + negatives) × FEATURES
        labels = np.zeros(features.shape[:2])
        labels[:, 0] = 1.0
        weights, trees, share, auc, offset = _fit_logit(features, labels, users, seed)
        popularity_auc = _kinds_auc(signals[SIGNALS.index("popularity")])
        setting = core.collaborative.setting
        final = cls(
            history,
            item_vectors,
            popularity,
            setting=setting,
            weights=tuple(weights),
            trees=trees,
            tree_share=share,
            offset=offset,
            ratings=ratings,
            times=times,
            **shared,
        )
        covered = len(final._covered)
        fit = TasteFit(
            family, setting, tuple(weights), auc, len(users), covered, offset, popularity_auc, share
        )
        return final, fit

    def add_items(self, vectors: np.ndarray) -> None:
        """Items the log never had (arrivals): text only, no popularity, no collaborative
        column."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.item_vectors.shape[1])
        self.item_vectors = np.vstack([self.item_vectors, vectors])
        self.popularity = np.concatenate([self.popularity, np.zeros(len(vectors))])
        self.quality = np.concatenate([self.quality, np.zeros(len(vectors))])
        self.item_time = np.concatenate([self.item_time, np.full(len(vectors), np.nan)])
        self.item_first = np.concatenate([self.item_first, np.full(len(vectors), np.nan)])

    # -- scoring ---------------------------------------------------------------------------

    def signals(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
        """The features of every (user, item) pair, in ``SIGNALS`` order: n × k each."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        n_items = len(self.columns)
        known_item = items < n_items  # in the log's catalogue (later items are new)
        inside = np.minimum(items, n_items - 1)
        cols = np.where(known_item, self.columns[inside], -1)
        cold = cols < 0  # no collaborative column: score unknown
        uncovered = cold & known_item & self._seen[inside]
        taste = np.zeros(items.shape, dtype=np.float64)
        known = np.flatnonzero(users < self.history.shape[0])
        if len(known):
            model = self.collaborative
            raw = model.scores(users[known], np.maximum(cols[known], 0))
            mean = model.user_mean[users[known]][:, None]
            scale = model.user_scale[users[known]][:, None]
            safe = np.where(scale > 1e-9, scale, 1.0)
            z = np.where(scale > 1e-9, (raw - mean) / safe, 0.0)
            taste[known] = np.where(cold[known], 0.0, z)
        popularity = self.popularity[items]
        neighbourhood = np.log1p(self.neighbours.sums(self.history, users, items))
        content = self._content(users, items)
        quality = self.quality[items]

        def per_user(values: np.ndarray) -> np.ndarray:
            """A column of each user's value (NaN for users past the history)."""
            out = np.full(len(users), np.nan)
            out[known] = values[users[known]]
            return out[:, None]

        gap = np.nan_to_num(np.abs(popularity - per_user(self.user_popularity)))
        time_gap = np.nan_to_num(np.abs(self.item_time[items] - per_user(self.user_time)))
        arrival = self.item_first[items] - per_user(self.user_last)
        arrival_gap = np.nan_to_num(np.maximum(arrival, 0.0))
        return (
            taste,
            content,
            popularity,
            uncovered.astype(np.float64),
            neighbourhood,
            quality,
            gap,
            time_gap,
            arrival_gap,
        )

    def _content(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Standardised cos(user's history embedding, item), the fallback without history."""
        n_users = self.taste.shape[0]
        has = users < n_users
        has[has] = self.taste_scale[users[has]] > 1e-9
        out = np.zeros(items.shape, dtype=np.float64)
        if (~has).any():
            out[~has] = self.fallback(users[~has], items[~has])
        if has.any():
            rows = np.flatnonzero(has)
            taste = self.taste[users[rows]]
            cos = np.einsum("nd,nkd->nk", taste, self.item_vectors[items[rows]])
            mean = self.taste_mean[users[rows]][:, None]
            out[rows] = (cos - mean) / self.taste_scale[users[rows]][:, None]
        return out

    def features(self, users: np.ndarray, signals: tuple[np.ndarray, ...]) -> np.ndarray:
        """The signals of n users × k items and their products with depth: n × k × FEATURES."""
        users = np.asarray(users, dtype=np.int64)
        depth = np.full(len(users), -self._depth_centre)
        known = users < len(self.depth)
        depth[known] = self.depth[users[known]]
        base = np.stack(signals, axis=-1)
        mixed = base[..., :3] * depth[:, None, None]
        user_depth = np.broadcast_to(depth[:, None, None], (*base.shape[:2], 1))
        return np.concatenate([base, mixed, base[..., 2:3] ** 2, user_depth], axis=-1)

    def logit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Preference logit of each (user, item) pair, n × k; 0 divides yes from no."""
        return self.score(self.features(users, self.signals(users, items)))

    def logit_left_out(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The logit of n (user, item) pairs as if the item were not in the user's history.

        For fits on the items users did rate: their logit must be what it would be before
        the choice, as for any item a simulated user is shown. The item-item families leave
        the item out by construction (their diagonal is zero); ALS's user factors keep a
        trace of it (one item among a history's many); the content taste drops the item's
        vector.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        signals = [s[:, 0] for s in self.signals(users, items[:, None])]
        rows = np.flatnonzero((users < self.history.shape[0]) & (items < self.history.shape[1]))
        had = np.asarray(self.history[users[rows], items[rows]]).ravel() > 0
        rows = rows[had]
        if len(rows):
            sums = self._taste_sums[users[rows]] - self.item_vectors[items[rows]]
            taste, mean, scale = self._standardised(sums)
            cos = np.einsum("nd,nd->n", taste, self.item_vectors[items[rows]])
            safe = np.where(scale > 1e-9, scale, 1.0)
            signals[1][rows] = np.where(scale > 1e-9, (cos - mean) / safe, 0.0)
        return self.score(self.features(users, tuple(s[:, None] for s in signals)))[:, 0]

    def score(self, features: np.ndarray) -> np.ndarray:
        """The logit of n × k pairs' features (n × k × FEATURES), threshold at 0."""
        return _combined(self.weights, self.trees, self.tree_share, features) - self.offset


def _negatives(
    train: sparse.csr_matrix, users: np.ndarray, held: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``NEGATIVES`` items per held-out one, uniform over what the user has not seen."""
    n_items = train.shape[1]
    out = rng.integers(n_items, size=(len(users), NEGATIVES))
    for row, user in enumerate(users):
        seen = set(train.indices[train.indptr[user] : train.indptr[user + 1]]) | {int(held[row])}
        if len(seen) >= n_items:
            continue
        for col in range(NEGATIVES):
            while int(out[row, col]) in seen:
                out[row, col] = rng.integers(n_items)
    return out


def _matched(
    train: sparse.csr_matrix,
    users: np.ndarray,
    held: np.ndarray,
    counts: np.ndarray,
    rng: np.random.Generator,
    k: int = 1,
) -> np.ndarray:
    """``k`` unseen items per held-out one, among the ten nearest to it in popularity."""
    by_count = np.argsort(counts, kind="stable")
    rank = np.empty(len(counts), dtype=np.int64)
    rank[by_count] = np.arange(len(counts))
    out = np.empty((len(users), k), dtype=np.int64)
    for row, user in enumerate(users):
        item = int(held[row])
        seen = set(train.indices[train.indptr[user] : train.indptr[user + 1]]) | {item}
        near: list[int] = []
        for offset in range(1, len(counts)):
            for at in (rank[item] - offset, rank[item] + offset):
                if 0 <= at < len(counts) and int(by_count[at]) not in seen:
                    near.append(int(by_count[at]))
            if len(near) >= 10:
                break
        out[row] = rng.choice(near, size=k, replace=len(near) < k) if near else item
    return out


def time_matrix(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, shape: tuple[int, int]
) -> sparse.csr_matrix | None:
    """When each (user, item) interaction happened, in standard deviations of all the
    log's timestamps above the earliest (plus one, so none is a stored zero); the last
    interaction of a repeated pair counts. None when the log has no spread of time."""
    t = np.asarray(timestamps, dtype=np.float64)
    ok = np.isfinite(t)
    if ok.sum() < 2 or np.std(t[ok]) == 0:
        return None
    z = (t[ok] - t[ok].min()) / np.std(t[ok]) + 1.0
    last = pd.DataFrame({"u": users[ok], "i": items[ok], "t": z}).drop_duplicates(
        ["u", "i"], keep="last"
    )
    return sparse.csr_matrix((last["t"], (last["u"], last["i"])), shape=shape)


def _mean_times(
    times: sparse.csr_matrix | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's and each user's mean interaction time (NaN without any, or no clock).

    The time gap |item's − user's| says how far an item's audience lived from the user's
    own period: on a log spanning years, users choose among what was current for them.
    """
    if times is None:
        return np.full(shape[1], np.nan), np.full(shape[0], np.nan)
    times = times.tocsr()
    present = times.copy()
    present.data = np.ones_like(present.data)

    def mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return np.divide(sums, counts, out=np.full(len(sums), np.nan), where=counts > 0)

    item = mean(np.asarray(times.sum(axis=0)).ravel(), np.asarray(present.sum(axis=0)).ravel())
    user = mean(np.asarray(times.sum(axis=1)).ravel(), np.asarray(present.sum(axis=1)).ravel())
    return item, user


def _first_and_last(
    times: sparse.csr_matrix | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's first and each user's last interaction time (NaN without any, or no
    clock), for the arrival gap."""
    first, last = np.full(shape[1], np.nan), np.full(shape[0], np.nan)
    if times is None or times.nnz == 0:
        return first, last
    times = times.tocsr()
    rows = np.repeat(np.arange(shape[0]), np.diff(times.indptr))
    np.fmin.at(first, times.indices, times.data)
    np.fmax.at(last, rows, times.data)
    return first, last


def _quality(ratings: sparse.csr_matrix | None, n_items: int) -> np.ndarray:
    """Each item's mean rating, shrunk towards everyone's by ``QUALITY_PRIOR`` ratings, in
    standard deviations of all ratings (so any scale reads alike); 0 without ratings."""
    if ratings is None or ratings.nnz == 0:
        return np.zeros(n_items)
    values = ratings.data
    mean, spread = float(values.mean()), float(values.std()) or 1.0
    csc = ratings.tocsc()
    sums = np.asarray(csc.sum(axis=0)).ravel()
    counts = np.diff(csc.indptr)
    return ((sums + QUALITY_PRIOR * mean) / (counts + QUALITY_PRIOR) - mean) / spread


def _fit_logit(
    features: np.ndarray, labels: np.ndarray, users: np.ndarray, seed: int
) -> tuple[np.ndarray, HistGradientBoostingClassifier | None, float, float, float]:
    """The logistic weights, the trees (None when their share is 0), the trees' share,
    its out-of-fold AUC and the threshold, from users × (1 + negatives) × FEATURES.

    Each fold of users is scored by models fitted on the others; the share and the
    threshold are chosen on those scores, then both models are refitted on everything.
    """
    x, y = features.reshape(-1, len(FEATURES)), labels.ravel()
    folds = np.repeat(users % FOLDS, features.shape[1])
    linear, boosted = np.empty(len(y)), np.empty(len(y))
    for fold in range(FOLDS):
        part = folds == fold
        weights = _logistic(x[~part], y[~part])
        linear[part] = _combined(weights, None, 0.0, x[part])
        boosted[part] = _boosted(x[~part], y[~part], seed).decision_function(x[part])
    share, auc, offset = _best_mix(linear, boosted, labels.shape)
    trees = _boosted(x, y, seed) if share > 0 else None
    return _logistic(x, y), trees, share, auc, offset


def _boosted(x: np.ndarray, y: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    """Boosted trees on the logit's features, monotone where ``MONOTONE`` says; they stop
    when a tenth of the rows, set aside, stops improving (ten times faster on small data,
    where 300 rounds only overfit)."""
    trees = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        monotonic_cst=[MONOTONE.get(name, 0) for name in FEATURES],
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=seed,
    )
    return trees.fit(x, y)


def _combined(
    weights: np.ndarray,
    trees: HistGradientBoostingClassifier | None,
    share: float,
    features: np.ndarray,
) -> np.ndarray:
    """The logistic model's log-odds mixed with the trees' (``share`` of them). The trees
    find what a sum of signals cannot (an unseen item that everyone has seen is one the
    user passed over); the logistic keeps a smooth ranking of the long tail."""
    linear = weights[0] + features @ weights[1:]
    if trees is None or share == 0:
        return linear
    flat = features.reshape(-1, features.shape[-1])
    boosted = trees.decision_function(flat).reshape(linear.shape)
    return (1.0 - share) * linear + share * boosted


TREE_SHARES = (0.0, 0.25, 0.5, 0.75)
"""The trees' shares of the logit that the fit tries."""


def _best_mix(
    linear: np.ndarray, boosted: np.ndarray, shape: tuple[int, int]
) -> tuple[float, float, float]:
    """The trees' share with the best out-of-fold AUC (the smaller on a tie), that AUC,
    and the equal-error threshold of the mixed score.

    Scores are users × (held-out item, ``NEGATIVES`` uniform, ``MATCHED`` matched); the
    AUC and the threshold weigh the two kinds of unseen item alike, whatever their counts.
    """

    def mixed(share: float) -> np.ndarray:
        return ((1.0 - share) * linear + share * boosted).reshape(shape)

    best = (-1.0, 0.0)
    for share in TREE_SHARES:
        auc = _kinds_auc(mixed(share))
        if auc > best[0] + 1e-4:
            best = (auc, share)
    auc, share = best
    scores = mixed(share)
    return share, auc, _balanced_threshold(scores[:, 0], *(scores[:, k] for k in KINDS))


KINDS = (slice(1, 1 + NEGATIVES), slice(1 + NEGATIVES, None))
"""The uniform and the popularity-matched columns of a fit's score matrix."""


def _kinds_auc(scores: np.ndarray) -> float:
    """Mean AUC of the held-out column (0) against the uniform and the matched negatives."""
    return float(np.mean([_auc(scores[:, :1], scores[:, kind]) for kind in KINDS]))


def _balanced_threshold(positives: np.ndarray, *negatives: np.ndarray) -> float:
    """The score above which as large a share of positives lies as of negatives below it
    (the equal-error point; each group of negatives weighs alike), so that asked about as
    many liked items as unseen ones, the answer is yes about half the time."""
    positives = np.sort(positives.ravel())
    groups = [np.sort(group.ravel()) for group in negatives]
    candidates = np.sort(np.concatenate([positives, *groups]))
    hit = 1.0 - np.searchsorted(positives, candidates, side="left") / len(positives)
    reject = np.mean(
        [np.searchsorted(group, candidates, side="left") / len(group) for group in groups],
        axis=0,
    )
    at = int(np.argmin(np.abs(hit - reject)))
    return float(candidates[at])


def _logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Intercept and weights of an L2-regularised logistic regression (L-BFGS)."""
    x = np.column_stack([np.ones(len(features)), features])

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = expit(z)
        loss = np.mean(np.logaddexp(0.0, z) - labels * z) + 0.5 * l2 * (w[1:] @ w[1:])
        grad = x.T @ (p - labels) / len(labels)
        grad[1:] += l2 * w[1:]
        return float(loss), grad

    fit = optimize.minimize(objective, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    return fit.x


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Share of (held-out, negative) pairs of one user ordered right; ties count half."""
    pos = positives.reshape(-1, 1)
    return float((pos > negatives).mean() + 0.5 * (pos == negatives).mean())


def holdout_liked(
    interactions: pd.DataFrame,
    user_index: dict[str, int],
    item_index: dict[str, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(user row, item row) of liked interactions, at random: from each user with two or
    more interactions, a fifth of them (at least one, at most ``HELD_PER_USER``).

    Liked means rated at or above the user's own median rating (every interaction when the
    feedback is implicit), so generous and harsh raters both contribute.
    """
    inter = interactions.assign(
        u=interactions["user_id"].astype(str).map(user_index),
        i=interactions["item_id"].astype(str).map(item_index),
    ).dropna(subset=["u", "i"])
    all_counts = inter.groupby("u").size()
    ratings = inter["rating"]
    if ratings.notna().any():
        median = ratings.groupby(inter["u"]).transform("median")
        inter = inter[ratings.isna() | (ratings >= median)]
    inter = inter.assign(key=rng.random(len(inter))).sort_values(["u", "key"], kind="stable")
    counts = inter["u"].map(all_counts)
    quota = np.clip(counts // 5, 1, HELD_PER_USER)
    order = inter.groupby("u").cumcount()
    pick = inter[(counts >= 2) & (order < quota)]
    return pick["u"].to_numpy(dtype=np.int64), pick["i"].to_numpy(dtype=np.int64)
