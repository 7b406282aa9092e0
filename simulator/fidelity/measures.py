"""Scores of the fidelity tasks, kept free of any subject or dataset.

Ties in a subject's scores are broken by a seeded random key supplied by the caller, so
a subject that cannot tell items apart (the random floor, a scripted model) is neither
flattered nor punished by catalogue order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from simulator.ratings import nearest_level
from simulator.stats import total_variation

__all__ = [
    "auc",
    "classification",
    "drawn_classification",
    "kl_divergence",
    "ndcg_single",
    "rank_of_target",
    "rating_shares",
    "top_share_decisions",
    "total_variation",
]

SMOOTHING = 0.5
"""Pseudo-count per rating level (Jeffreys) so KL stays finite when a level is never used."""


def classification(labels: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    """Precision, recall, accuracy and F1 of yes/no decisions (precision 0 with no yes)."""
    y = np.asarray(labels, bool)
    d = np.asarray(decisions, bool)
    tp = float((y & d).sum())
    precision = tp / d.sum() if d.any() else 0.0
    recall = tp / y.sum() if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float((y == d).mean()) if len(y) else float("nan")
    return {"precision": precision, "recall": recall, "accuracy": accuracy, "f1": f1}


def drawn_classification(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Yes-share and F1 of answers drawn with the given probabilities of yes, in
    expectation: how a simulated user who draws each answer, as in a run, would score.

    F1 is taken from the expected counts (E[TP] = Σ p over positives, and so on).
    """
    y = np.asarray(labels, bool)
    p = np.asarray(probabilities, float)
    tp, said = float(p[y].sum()), float(p.sum())
    f1 = 2 * tp / (said + y.sum()) if said + y.sum() else 0.0
    return {"yes_share_drawn": said / len(p) if len(p) else float("nan"), "f1_drawn": f1}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties count half); NaN with one class only."""
    y = np.asarray(labels, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_share_decisions(
    groups: np.ndarray, scores: np.ndarray, tiebreak: np.ndarray, share: float
) -> np.ndarray:
    """Say yes to the best ``round(share · n)`` items of each group (a user's list).

    This is how a subject without a yes/no threshold of its own (a recommender) answers
    when told the base rate; agents get the same rule as a second, threshold-free reading.
    """
    groups = np.asarray(groups)
    out = np.zeros(len(groups), bool)
    order = np.lexsort((tiebreak, -np.asarray(scores, float), groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    for start, size in zip(starts, sizes, strict=True):
        out[order[start : start + round(share * size)]] = True
    return out


def rank_of_target(scores: np.ndarray, tiebreak: np.ndarray, target: int) -> int:
    """1-based rank of ``scores[target]`` when sorted best first (ties by ``tiebreak``)."""
    order = np.lexsort((tiebreak, -np.asarray(scores, float)))
    return int(np.flatnonzero(order == target)[0]) + 1


def ndcg_single(rank: int | np.ndarray, k: int) -> float | np.ndarray:
    """NDCG@k with one relevant item: 1/log2(1 + rank) inside the top k, else 0."""
    r = np.asarray(rank, float)
    value = np.where(r <= k, 1.0 / np.log2(1.0 + r), 0.0)
    return float(value) if np.ndim(value) == 0 else value


def rating_shares(ratings: Sequence[float] | np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Shares of each of ``levels`` (the dataset's scale) among ``ratings``, snapped to it."""
    counts = np.bincount(_level_index(ratings, levels), minlength=len(levels)).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def kl_divergence(real: Sequence[float], simulated: Sequence[float], levels: np.ndarray) -> float:
    """KL(real ‖ simulated) in bits over ``levels``, both smoothed by ``SMOOTHING``."""
    p = np.bincount(_level_index(real, levels), minlength=len(levels)) + SMOOTHING
    q = np.bincount(_level_index(simulated, levels), minlength=len(levels)) + SMOOTHING
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log2(p / q)).sum())


def _level_index(ratings: Sequence[float] | np.ndarray, levels: np.ndarray) -> np.ndarray:
    levels = np.asarray(levels, float)
    snapped = nearest_level(np.asarray(ratings, float), levels)
    return np.searchsorted(levels, snapped).astype(int)
