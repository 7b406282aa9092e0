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
* **neighbourhood**: the item-kNN score, log(1 + Σ similarity) over the item's 50 nearest
  items (shrunk cosine, ``agents.neighbours``) that the user has. EASE and kNN err
  differently (on MovieLens their rank average beats both), so the fit weighs both.

Nothing here is tuned to one dataset by hand. The fit holds out one liked item per user
(at random) and chooses the family's setting (EASE's λ among a few multiples of the mean
item count, say) by how well the collaborative score ranks those held-out items above
unseen items of the same popularity: it is chosen for taste, with popularity left to its
own weight. It then learns the weights of the signals
by logistic regression: each held-out item against ``NEGATIVES`` unseen items drawn
uniformly from the catalogue and one of the same popularity, so popularity counts
as much as it predicts and no more. The logit is shifted to even prior odds, so
``σ(logit)`` reads as "would choose this item rather than an unseen one". Then the
collaborative model is refitted on the whole log.

The catalogue the collaborative model covers is capped (``max_items``, the most interacted
items): EASE inverts an n × n matrix, which costs n³. Items outside it, and items added
later, are scored by content and popularity alone, with a weight of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy.special import expit

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


SIGNALS = ("collaborative", "content", "popularity", "cold", "neighbourhood")
"""What ``TasteCore.signals`` gives for every (user, item) pair."""
FEATURES = (*SIGNALS, "collaborative x depth", "content x depth", "popularity x depth")
"""The logit's features, in the order of ``TasteCore.weights`` (after the intercept): the
signals, then three of them times the user's depth (log history size, centred), so a user
with a long history can lean on it and one with a short history on content and
popularity."""
KNN_NEIGHBOURS = 50
KNN_SHRINK = 10.0
"""The neighbourhood signal's similarity, as the item-kNN recommender computes it: each
item's 50 nearest by cosine, shrunk by 10 so that pairs seen together rarely count less."""

NEGATIVES = 4
"""Uniformly drawn unseen items against each held-out one when the weights are fitted
(plus one of the same popularity)."""


@dataclass(frozen=True)
class TasteFit:
    """How the taste core was fitted, for reports and tests.

    Attributes:
        family: The collaborative model family.
        setting: Its chosen setting (EASE's λ, kNN's neighbours, ALS's regularisation).
        weights: Intercept, then one weight per entry of ``FEATURES``.
        holdout_auc: AUC of the fitted logit on the held-out items against their negatives.
        holdout_users: Users with a held-out item.
        covered_items: Items the collaborative model covers.
    """

    family: Family
    setting: float
    weights: tuple[float, ...]
    holdout_auc: float
    holdout_users: int
    covered_items: int


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
        weights: tuple[float, ...] = (0.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0),
        fallback: ContentScore = _no_content,
        item_moments: Moments | None = None,
        seed: int = 0,
        neighbours: ItemNeighbours | None = None,
    ) -> None:
        self.history = history.tocsr().astype(np.float32)
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self._item_moments = item_moments or catalogue_moments(self.item_vectors)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.fallback = fallback
        self.weights = np.asarray(weights, dtype=np.float64)
        counts = np.asarray(self.history.sum(axis=0)).ravel()
        order = np.argsort(-counts, kind="stable")
        covered = order[: min(max_items, int((counts > 0).sum()))]
        self.columns = np.full(self.history.shape[1], -1, dtype=np.int64)
        self.columns[covered] = np.arange(len(covered))
        self._covered = covered
        self.collaborative: Collaborative = collaborative.build(
            family, self.history[:, covered].tocsr(), setting, seed
        )
        self.neighbours = neighbours or ItemNeighbours(
            self.history, max_items=max_items, k=KNN_NEIGHBOURS, shrink=KNN_SHRINK
        )
        self._fit_content()
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
            core = cls(history, item_vectors, popularity, setting=setting, **shared)
            fit = TasteFit(family, setting, tuple(core.weights), float("nan"), len(users), 0)
            return core, fit
        train = (history - history.multiply(holdout > 0)).tocsr()
        train.eliminate_zeros()
        rng = np.random.default_rng(seed)
        negatives = _negatives(train, users, items, rng)
        matched = _matched(train, users, items, counts, rng)
        best = None
        near = ItemNeighbours(train, max_items=max_items, k=KNN_NEIGHBOURS, shrink=KNN_SHRINK)
        for setting in collaborative.candidate_settings(family, base):
            core = cls(train, item_vectors, popularity, setting=setting, neighbours=near, **shared)
            taste = core.signals(users, np.column_stack([items, matched]))[0]
            auc = _auc(taste[:, :1], taste[:, 1:])
            if best is None or auc > best[0]:
                best = (auc, core)
        _, core = best
        negatives = np.column_stack([negatives, matched])
        signals = core.signals(users, np.column_stack([items, negatives]))
        features = core.features(users, signals)  # users × (1 + NEGATIVES) × FEATURES
        labels = np.zeros(features.shape[:2])
        labels[:, 0] = 1.0
        weights = _logistic(features.reshape(-1, len(FEATURES)), labels.ravel())
        weights[0] += np.log(negatives.shape[1])  # even prior odds: one choice, one unseen
        logit = weights[0] + features @ weights[1:]
        auc = _auc(logit[:, :1], logit[:, 1:])
        setting = core.collaborative.setting
        final = cls(
            history, item_vectors, popularity, setting=setting, weights=tuple(weights), **shared
        )
        covered = len(final._covered)
        return final, TasteFit(family, setting, tuple(weights), auc, len(users), covered)

    def add_items(self, vectors: np.ndarray) -> None:
        """Items the log never had (arrivals): text only, no popularity, no collaborative
        column."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.item_vectors.shape[1])
        self.item_vectors = np.vstack([self.item_vectors, vectors])
        self.popularity = np.concatenate([self.popularity, np.zeros(len(vectors))])

    # -- scoring ---------------------------------------------------------------------------

    def signals(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
        """The features of every (user, item) pair, in ``SIGNALS`` order: n × k each."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        n_items = len(self.columns)
        known_item = items < n_items  # in the log's catalogue (later items are cold)
        cols = np.where(known_item, self.columns[np.minimum(items, n_items - 1)], -1)
        cold = cols < 0
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
        return taste, content, popularity, cold.astype(np.float64), neighbourhood

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
        return np.concatenate([base, mixed], axis=-1)

    def logit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Preference logit of each (user, item) pair, n × k; σ of it at even prior odds."""
        features = self.features(users, self.signals(users, items))
        return self.weights[0] + features @ self.weights[1:]

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
        features = self.features(users, tuple(s[:, None] for s in signals))[:, 0]
        return self.weights[0] + features @ self.weights[1:]


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
) -> np.ndarray:
    """One unseen item per held-out one, among the ten nearest to it in popularity."""
    by_count = np.argsort(counts, kind="stable")
    rank = np.empty(len(counts), dtype=np.int64)
    rank[by_count] = np.arange(len(counts))
    out = np.empty(len(users), dtype=np.int64)
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
        out[row] = near[int(rng.integers(len(near)))] if near else item
    return out


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
    """(user row, item row) of one liked interaction per user with two or more, at random.

    Liked means rated at or above the user's own median rating (every interaction when the
    feedback is implicit), so generous and harsh raters both contribute.
    """
    inter = interactions.assign(
        u=interactions["user_id"].astype(str).map(user_index),
        i=interactions["item_id"].astype(str).map(item_index),
    ).dropna(subset=["u", "i"])
    ratings = inter["rating"]
    if ratings.notna().any():
        median = ratings.groupby(inter["u"]).transform("median")
        inter = inter[ratings.isna() | (ratings >= median)]
    inter = inter.assign(key=rng.random(len(inter))).sort_values(["u", "key"], kind="stable")
    sizes = inter.groupby("u")["i"].transform("size")
    pick = inter[sizes >= 2].groupby("u").head(1)
    return pick["u"].to_numpy(dtype=np.int64), pick["i"].to_numpy(dtype=np.int64)
