"""Offline metrics of recommendation lists: ranking accuracy @K and beyond accuracy.

Ranking metrics work on a *hit matrix*: one row per user, one column per rank, ``True``
where the item at that rank is relevant. Every metric is then a line of numpy over all
users at once, and the hand-written definitions are easy to check against each other.
Relevance is binary. A user with no relevant items has no defined accuracy: their values
are NaN, which ``stats.mean_ci`` drops.

Beyond-accuracy metrics work on an *index matrix*: the catalogue positions of each list's
items, ``-1`` in slots a short list leaves empty (``index_matrix`` builds it).

Conventions, where the literature differs:

* precision@K divides by K even when a list is shorter (the catalogue ran out);
* recall@K divides by the number of relevant items, |rel|;
* nDCG@K's ideal DCG places min(|rel|, K) hits at the top;
* AP@K (so MAP@K) divides by min(|rel|, K), so a perfect top K scores 1 even when a user
  has more than K relevant items. ``ranx`` and ``trec_eval`` divide by |rel| instead: the
  two agree whenever |rel| <= K, which is always the case for leave-last-out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from simulator.stats import gini

RANKING_METRICS = ("hit_rate", "precision", "recall", "ndcg", "mrr", "map")
"""Column names of ``ranking_metrics``, in display order."""


# -- ranking accuracy --------------------------------------------------------------------


def hit_matrix(
    recommended: Sequence[Sequence[str]], relevant: Sequence[Collection[str]], k: int
) -> np.ndarray:
    """``(n_users, k)`` booleans: is the item at each rank of each list relevant?

    Ranks past a list's end are ``False``, and so is a repeat of an item already counted
    higher up, so no metric can exceed 1 on a list with duplicates.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(recommended) != len(relevant):
        raise ValueError(f"{len(recommended)} lists but {len(relevant)} relevance sets")
    hits = np.zeros((len(recommended), k), dtype=bool)
    for row, (items, rel) in enumerate(zip(recommended, relevant, strict=True)):
        counted: set[str] = set()
        for col, item in enumerate(items[:k]):
            if item in rel and item not in counted:
                hits[row, col] = True
                counted.add(item)
    return hits


def hit_rate(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """1 when any relevant item is in the top K: the share of users a list 'reached'."""
    return _undefined_without_relevant(hits.any(axis=1).astype(float), n_relevant)


def precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Relevant items in the top K over K: how much of the list was worth showing."""
    return _undefined_without_relevant(hits.sum(axis=1) / hits.shape[1], n_relevant)


def recall(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Relevant items in the top K over all relevant items: how much of the need was met."""
    n = np.asarray(n_relevant, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined_without_relevant(hits.sum(axis=1) / n, n_relevant)


def ndcg(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """DCG (gain 1 per hit, discount log2(rank + 1)) over the best DCG possible at K.

    Rewards hits near the top, the part of a list users actually look at.
    """
    k = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount
    ideal_hits = np.minimum(np.asarray(n_relevant, int), k)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[ideal_hits]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined_without_relevant(dcg / ideal, n_relevant)


def mrr(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """1 / rank of the first relevant item (0 when none is in the top K).

    Per user this is the reciprocal rank; its mean over users is the MRR.
    """
    first = hits.argmax(axis=1)
    rr = np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)
    return _undefined_without_relevant(rr, n_relevant)


def average_precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """AP@K: precision at each relevant rank, summed, over min(|rel|, K).

    Per user; its mean over users is MAP@K. Normalising by min(|rel|, K) rather than |rel|
    keeps the best achievable value at 1 for users with more than K relevant items.
    """
    k = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    total = (precision_at * hits).sum(axis=1)
    denominator = np.minimum(np.asarray(n_relevant, float), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined_without_relevant(total / denominator, n_relevant)


def ranking_metrics(
    recommended: Sequence[Sequence[str]], relevant: Sequence[Collection[str]], k: int
) -> pd.DataFrame:
    """Every ranking metric @K, one row per list, columns ``RANKING_METRICS``."""
    hits = hit_matrix(recommended, relevant, k)
    n_relevant = np.fromiter((len(r) for r in relevant), dtype=int, count=len(relevant))
    functions = (hit_rate, precision, recall, ndcg, mrr, average_precision)
    return pd.DataFrame(
        {name: fn(hits, n_relevant) for name, fn in zip(RANKING_METRICS, functions, strict=True)}
    )


def _undefined_without_relevant(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(n_relevant) > 0, values, np.nan)


# -- beyond accuracy ---------------------------------------------------------------------


def index_matrix(
    recommended: Sequence[Sequence[str]], item_ids: Sequence[str], k: int
) -> np.ndarray:
    """``(n_lists, k)`` catalogue positions of each list's top K; -1 pads short lists.

    Items outside the catalogue are dropped: they cannot be counted against it.
    """
    position = {item: i for i, item in enumerate(item_ids)}
    out = np.full((len(recommended), k), -1, dtype=np.int64)
    for row, items in enumerate(recommended):
        idx = [position[i] for i in items if i in position][:k]
        out[row, : len(idx)] = idx
    return out


def catalogue_coverage(indices: np.ndarray, n_items: int) -> float:
    """Distinct items recommended to anyone over the catalogue size.

    A recommender that shows everyone the same few items covers little of what it could
    sell, however accurate it is.
    """
    shown = np.unique(indices[indices >= 0])
    return len(shown) / n_items if n_items else float("nan")


def exposure_counts(indices: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists show each catalogue item (zeros for the never shown)."""
    return np.bincount(indices[indices >= 0], minlength=n_items)


def exposure_gini(indices: np.ndarray, n_items: int) -> float:
    """Gini of exposure over the whole catalogue: 0 when every item is shown equally often.

    Never-shown items count as zeros; leaving them out would hide the concentration.
    """
    return gini(exposure_counts(indices, n_items))


def genre_matrix(items: pd.DataFrame) -> np.ndarray:
    """``(n_items, n_genres)`` booleans from ``Dataset.items``' ``genres`` tuples."""
    genres = items["genres"].reset_index(drop=True).explode().dropna()
    if genres.empty:
        return np.zeros((len(items), 0), dtype=bool)
    table = pd.crosstab(genres.index, genres.to_numpy()).reindex(range(len(items)), fill_value=0)
    return table.to_numpy() > 0


def intra_list_diversity(
    indices: np.ndarray, features: np.ndarray, *, metric: str = "jaccard"
) -> np.ndarray:
    """Mean pairwise dissimilarity of the items inside each list (NaN below two items).

    A diverse list hedges across tastes instead of showing near-copies of one item.

    Args:
        indices: ``index_matrix`` output.
        features: One row per catalogue item: genre booleans (``genre_matrix``) for
            ``metric="jaccard"``, or embeddings for ``metric="cosine"``.
        metric: ``jaccard``: 1 - |A ∩ B| / |A ∪ B| of two items' genre sets; two items
            without any genre count as identical (distance 0, as scipy does).
            ``cosine``: 1 - cosine similarity of the embeddings (zero vectors: distance 1).
    """
    valid = indices >= 0
    x = np.asarray(features, dtype=float)[np.where(valid, indices, 0)]  # (n, k, d)
    x[~valid] = 0.0
    if metric == "jaccard":
        shared = np.einsum("nkd,nld->nkl", x, x)
        sizes = x.sum(axis=2)
        union = sizes[:, :, None] + sizes[:, None, :] - shared
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.where(union > 0, 1.0 - shared / union, 0.0)
    elif metric == "cosine":
        norms = np.linalg.norm(x, axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = np.where(norms > 0, x / norms, 0.0)
        distance = 1.0 - np.einsum("nkd,nld->nkl", unit, unit)
    else:
        raise ValueError(f"unknown metric {metric!r}; choose jaccard or cosine")
    pair = valid[:, :, None] & valid[:, None, :]
    pair &= np.triu(np.ones(indices.shape[1], dtype=bool), k=1)
    n_pairs = pair.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_pairs > 0, (distance * pair).sum(axis=(1, 2)) / n_pairs, np.nan)


def popularity_counts(interactions: pd.DataFrame, item_ids: Sequence[str]) -> np.ndarray:
    """Training interactions per catalogue item, in ``item_ids`` order."""
    counts = interactions["item_id"].value_counts()
    return counts.reindex(pd.Index(item_ids), fill_value=0).to_numpy(dtype=float)


def novelty(indices: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Mean self-information -log2(p_i) of each list's items, p_i = item i's share of
    training interactions (bits; NaN for an empty list).

    High novelty means the list surfaces items few people already know. An item never seen
    in training counts as seen once, so its information stays finite.
    """
    share = np.maximum(popularity, 1.0) / max(float(popularity.sum()), 1.0)
    return _mean_over_list(indices, -np.log2(share))


def average_popularity(indices: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """ARP: mean training-interaction count of each list's items (Abdollahpouri et al.).

    The raw count, not a share, so values compare with the users' profiles (see
    ``popularity_lift``) rather than across datasets.
    """
    return _mean_over_list(indices, np.asarray(popularity, float))


def popularity_lift(list_popularity: np.ndarray, profile_popularity: np.ndarray) -> float:
    """(mean ARP - mean profile popularity) / mean profile popularity, over users.

    0 when lists are as popular as what users consumed in training; above 0 when the
    recommender pushes them towards the head (popularity bias), below 0 towards the tail.
    Ratio of means, as Abdollahpouri et al.'s group average popularity, so a user with a
    tiny profile cannot dominate it.
    """
    arp = np.nanmean(list_popularity)
    profile = np.nanmean(profile_popularity)
    return float((arp - profile) / profile) if profile > 0 else float("nan")


def _mean_over_list(indices: np.ndarray, value: np.ndarray) -> np.ndarray:
    valid = indices >= 0
    per_slot = np.where(valid, value[np.where(valid, indices, 0)], 0.0)
    n = valid.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, per_slot.sum(axis=1) / n, np.nan)
