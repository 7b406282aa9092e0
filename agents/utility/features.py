"""The item and user matrices the utility model scores pages with, built once per dataset.

An item is its text embedding, its popularity (log interaction count scaled to [0, 1])
and its quality (shrunk mean rating relative to the catalogue's). A user is a taste
vector (the mean embedding of what they liked), a rating bias (their shrunk mean rating
relative to everyone's) and a relative rating spread, plus their interaction history,
from which ``agents.preferences`` learns what they would choose.

Affinity is cos(user taste, item) standardised over the catalogue for that user. Raw
cosines of text embeddings sit at a dataset-dependent offset (shared words such as "the"
or "story"), so standardising makes the model's weights and outside option mean the same
on every dataset: z = 1 is an item one standard deviation closer to the user's taste than
the average item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from agents.preferences import catalogue_moments, cosine_moments
from agents.profile import ItemProfile, UserProfile
from agents.traits import History
from agents.utility.params import QUALITY_PRIOR, USER_PRIOR, liked_rating
from memory.embedders import Embedder


def item_text(title: str, genres: Sequence[str], description: str) -> str:
    """What an item is embedded from: title, genres and description."""
    return " ".join(part for part in (title, " ".join(genres), description or "") if part)


def standardise(cosine: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(cos − mean) / scale per row; 0 where the scale is (near) zero."""
    mean = np.asarray(mean, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if np.ndim(cosine) > np.ndim(mean):
        mean, scale = mean[..., None], scale[..., None]
    safe = np.where(scale > 1e-9, scale, 1.0)
    return np.where(scale > 1e-9, (cosine - mean) / safe, 0.0)


class FeatureArrays(NamedTuple):
    """What a dataset gives the model: ids in row order and the rows themselves."""

    item_ids: list[str]
    item_vectors: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray
    user_ids: list[str]
    user_vectors: np.ndarray
    user_bias: np.ndarray
    user_spread: np.ndarray
    history: sparse.csr_matrix
    """Users × items, 1 where the user interacted (rows and columns as above)."""


def feature_arrays(dataset: History, embedder: Embedder) -> FeatureArrays:
    """Item and taste matrices from a dataset's catalogue and history.

    Args:
        dataset: A ``simulator.dataset.Dataset`` (or anything with its frames).
        embedder: Embeds item and genre text into L2-normalised rows.

    A user's taste is the mean embedding of their liked history (rated at or above
    ``liked_rating``, three quarters up the data's rating range, or every interaction when
    the feedback is implicit); a user with history but nothing liked gets the embedding of
    their most frequent genres. Users without history are left out: ``Features.user_rows``
    adds them on first sight.
    """
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
    threshold = liked_rating(ratings)
    liked = ratings >= threshold if threshold is not None else np.ones(len(inter), dtype=bool)
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
        user_vectors[fallback] = embedder.embed([" ".join(genres[user_ids[i]]) for i in fallback])
    known = has_liked | has_any
    bias, spread = _rating_habits(user_codes, ratings, len(user_ids))
    seen = user_codes >= 0
    everything = sparse.csr_matrix(
        (np.ones(int(seen.sum())), (user_codes[seen], inter["row"].to_numpy()[seen])),
        shape=(len(user_ids), len(item_ids)),
    )
    everything.data[:] = 1.0  # repeated interactions count once
    return FeatureArrays(
        item_ids,
        item_vectors,
        popularity,
        quality,
        [u for u, k in zip(user_ids, known, strict=True) if k],
        user_vectors[known],
        bias[known],
        spread[known],
        everything[np.flatnonzero(known)],
    )


def _rating_habits(
    users: np.ndarray, ratings: np.ndarray, n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's rating bias (stars above everyone's mean) and relative spread, both
    shrunk by ``USER_PRIOR`` pseudo-ratings; 0 and 1 without ratings."""
    rated = (users >= 0) & np.isfinite(ratings)
    if not rated.any():
        return np.zeros(n_users), np.ones(n_users)
    r, u = ratings[rated], users[rated]
    mean, var = float(r.mean()), float(r.var()) or 1.0
    n = np.bincount(u, minlength=n_users)
    centred = np.bincount(u, weights=r - mean, minlength=n_users)
    squares = np.bincount(u, weights=(r - mean) ** 2, minlength=n_users)
    bias = centred / (n + USER_PRIOR)
    within = squares - centred**2 / np.maximum(n, 1)  # around the user's own mean
    spread = np.sqrt((within + USER_PRIOR * var) / (n + USER_PRIOR) / var)
    return bias, spread


class Features:
    """Item and user matrices, and the standardised affinity between their rows.

    Rows for users or items that the dataset did not have are added on first sight (a
    user from their favourite genres, an item from its text, with zero popularity).

    Args:
        embedder: Embeds item and genre text into L2-normalised rows.
        item_ids: Catalogue order of the item rows.
        item_vectors: n_items × d, L2-normalised.
        popularity: Log interaction count scaled to [0, 1], per item.
        quality: Shrunk mean rating minus the catalogue mean, in stars (0 when implicit).
        user_ids: Order of the user rows.
        user_vectors: n_users × d taste vectors, L2-normalised (zero when unknown).
        user_bias, user_spread: Per user row, rating bias in stars and relative spread
            (0 and 1 for users added later).

    Attributes:
        item_index, user_index: Row of each item and user id; they grow with new ids.
        item_vectors, popularity, quality, user_vectors: The matrices, rows in index order.
        item_mean, item_cov: Mean and covariance of the catalogue's item vectors (the
            catalogue the instance was built with), which standardise every cosine.
        user_mean, user_scale: Each user's mean and standard deviation of cos(user, item)
            over that catalogue.
    """

    def __init__(
        self,
        embedder: Embedder,
        item_ids: Sequence[str],
        item_vectors: np.ndarray,
        popularity: np.ndarray,
        quality: np.ndarray,
        user_ids: Sequence[str],
        user_vectors: np.ndarray,
        user_bias: np.ndarray | None = None,
        user_spread: np.ndarray | None = None,
    ) -> None:
        self.embedder = embedder
        self.item_index = {str(i): row for row, i in enumerate(item_ids)}
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.quality = np.asarray(quality, dtype=np.float64)
        self.user_index = {str(u): row for row, u in enumerate(user_ids)}
        # Mean and covariance of the catalogue's vectors give every user's mean and spread
        # of cos(user, item) over the catalogue without an n_users × n_items product.
        self.item_mean, self.item_cov = catalogue_moments(self.item_vectors)
        self.user_vectors = np.zeros((0, self.item_vectors.shape[1]), dtype=np.float32)
        self.user_mean = np.zeros(0)
        self.user_scale = np.zeros(0)
        self._append_users(np.asarray(user_vectors, dtype=np.float32))
        n = len(self.user_vectors)
        self.user_bias = np.zeros(n) if user_bias is None else np.asarray(user_bias, float)
        self.user_spread = np.ones(n) if user_spread is None else np.asarray(user_spread, float)

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
            self._items_added(vectors)
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

    def _items_added(self, vectors: np.ndarray) -> None:
        """Called with the text vectors of items added on first sight; subclasses follow."""

    def _append_users(self, vectors: np.ndarray) -> int:
        """Add taste rows with their catalogue mean and spread; returns the first new row.

        Users added after construction have no rating history: bias 0, spread 1.
        """
        start = len(self.user_vectors)
        mean, scale = self.cosine_moments(vectors.astype(np.float64))
        self.user_vectors = np.vstack([self.user_vectors, vectors])
        self.user_mean = np.concatenate([self.user_mean, mean])
        self.user_scale = np.concatenate([self.user_scale, scale])
        if hasattr(self, "user_bias"):
            self.user_bias = np.concatenate([self.user_bias, np.zeros(len(vectors))])
            self.user_spread = np.concatenate([self.user_spread, np.ones(len(vectors))])
        return start

    def cosine_moments(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of cos(v, item) over the catalogue, per row v.

        A zero vector (no taste known) gets scale 0, and with it z = 0 for every item.
        """
        return cosine_moments(vectors, (self.item_mean, self.item_cov))

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
