"""Corrections for two biases of scored LLM answers: option position and a prior answer.

Small models prefer whatever is listed first, and lean towards one answer whatever the
question (always "yes", always 1 star). Two standard corrections, both pure arithmetic on
answer distributions, so policies and the fidelity suite share them:

* **Permutation averaging**: ask the same list under several orders of its options, map
  each answer's probabilities back to the items, and average. Evenly spaced cyclic shifts
  put every item in as many different positions as there are orders; over all ``n``
  shifts a preference for a position cancels exactly.
* **Contextual calibration** (Zhao et al., 2021, "Calibrate Before Use"): ask the question
  about a content-free item ("N/A"), take that answer distribution ``p_cf``, and divide
  every real answer by it before renormalising.
* **A monotone map onto the data's ratings**: after that division a small model's ratings
  still pile up on a few stars. The monotone (quantile) coupling between the model's mean
  rating distribution on rated examples and the data's moves each answer's mass up or down
  the scale so that, on those examples, the answers' mean distribution is the data's. It
  keeps order: an answer that rated higher than another before still does.
* **Batch calibration** (Zhou et al., 2024, "Batch Calibration"): the same division, by
  the mean answer over the batch itself instead of a content-free question. What is left
  is how much more the model leans to an option for this question than for the others:
  the evidence the hybrid policy pools with the taste core's prior.
* **A yes rate from elsewhere**: a small model says yes to everything, even after the
  division, while its P(yes) still orders items usefully. ``yes_shift`` finds the logit
  shift that makes a given share of a batch's answers reach 0.5; the share comes from a
  model of the data (the taste core), the order of the items from the LLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import expit, logit

CONTENT_FREE_TITLE = "N/A"
"""The title of the content-free item contextual calibration asks about."""

FLOOR = 1e-6
"""Smallest content-free probability divided by, so an option it never gives stays finite."""


def shifted_orders(n: int, orders: int) -> list[tuple[int, ...]]:
    """``orders`` cyclic shifts of ``range(n)``, evenly spaced (at most ``n`` of them).

    Entry ``j`` of an order is the index of the item shown in position ``j``; the first
    order is the identity.
    """
    if n < 1:
        return [()]
    k = max(1, min(orders, n))
    shifts = sorted({(i * n) // k for i in range(k)})
    return [tuple((j + s) % n for j in range(n)) for s in shifts]


def average_over_orders(
    answers: Sequence[Mapping[str, float]],
    orders: Sequence[Sequence[int]],
    labels: Sequence[str],
    fixed: Sequence[str] = (),
) -> dict[str, float]:
    """Each answer's probabilities moved back to the items they were about, then averaged.

    Args:
        answers: One distribution per order, keyed by the labels as shown.
        orders: For each answer, the item index shown at each position.
        labels: The label of each position (item ``i`` in the identity order has
            ``labels[i]``); the result is keyed by them, in item order.
        fixed: Options that do not move with the order (say, "0" for none of them).

    Returns:
        One distribution over ``fixed`` then ``labels``, summing to 1.
    """
    if len(answers) != len(orders):
        raise ValueError(f"got {len(answers)} answers for {len(orders)} orders; pass one each")
    totals = dict.fromkeys((*fixed, *labels), 0.0)
    for probs, order in zip(answers, orders, strict=True):
        norm = sum(probs.get(x, 0.0) for x in (*fixed, *labels[: len(order)])) or 1.0
        for option in fixed:
            totals[option] += probs.get(option, 0.0) / norm
        for position, item in enumerate(order):
            totals[labels[item]] += probs.get(labels[position], 0.0) / norm
    return _normalised(totals)


def mean_distribution(
    answers: Sequence[Mapping[str, float] | None], choices: Sequence[str]
) -> dict[str, float] | None:
    """The mean of the answers that came back (each renormalised over ``choices``)."""
    rows = [_normalised({c: a.get(c, 0.0) for c in choices}) for a in answers if a]
    if not rows:
        return None
    return {c: sum(r[c] for r in rows) / len(rows) for c in choices}


def calibrated(probs: Mapping[str, float], content_free: Mapping[str, float]) -> dict[str, float]:
    """Contextual calibration: ``probs / p_cf``, renormalised (Zhao et al., 2021)."""
    return _normalised({c: p / max(content_free.get(c, 0.0), FLOOR) for c, p in probs.items()})


class AnswerMean:
    """The running mean answer per option over every batch added so far.

    The mean of an option is taken over the answers that offer it, so pages of different
    lengths share it. Kept across batches so that a batch of one page still has a mean
    to be measured against (its own answer would cancel itself out).
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, answers: Sequence[Mapping[str, float] | None]) -> None:
        for answer in answers:
            for option, p in (answer or {}).items():
                self.totals[option] = self.totals.get(option, 0.0) + p
                self.counts[option] = self.counts.get(option, 0) + 1

    @property
    def mean(self) -> dict[str, float]:
        return {option: self.totals[option] / self.counts[option] for option in self.totals}


def batch_calibrated(
    answers: Sequence[Mapping[str, float] | None], running: AnswerMean | None = None
) -> list[dict[str, float] | None]:
    """Each answer divided by the mean answer, renormalised (batch calibration).

    Args:
        answers: One batch's answers; a missing answer stays missing.
        running: Adds the batch to this running mean and divides by it; without one, the
            batch's own mean.
    """
    running = running if running is not None else AnswerMean()
    running.add(answers)
    mean = running.mean
    return [None if a is None else calibrated(a, mean) for a in answers]


def monotone_map(source: Sequence[float], target: Sequence[float]) -> list[list[float]]:
    """The row-stochastic matrix ``M`` of the monotone coupling of two distributions over
    the same ordered levels: ``source @ M == target``.

    Level ``i`` of the source covers the slice ``[S_{i-1}, S_i)`` of the unit interval (S
    the cumulative sums), level ``j`` of the target ``[T_{j-1}, T_j)``; ``M[i][j]`` is the
    share of slice ``i`` that falls in slice ``j``. A level the source never gives maps to
    itself.
    """
    if len(source) != len(target):
        raise ValueError(f"got {len(source)} source and {len(target)} target levels")
    s, t = _cumulative(source), _cumulative(target)
    rows = []
    for i in range(len(source)):
        width = s[i + 1] - s[i]
        if width <= 0:
            rows.append([1.0 if j == i else 0.0 for j in range(len(target))])
            continue
        rows.append(
            [
                max(0.0, min(s[i + 1], t[j + 1]) - max(s[i], t[j])) / width
                for j in range(len(target))
            ]
        )
    return rows


def remapped(
    probs: Mapping[str, float], matrix: Sequence[Sequence[float]], levels: Sequence[str]
) -> dict[str, float]:
    """``probs`` over ``levels`` (in order) moved by a ``monotone_map`` matrix."""
    p = [probs.get(level, 0.0) for level in levels]
    return _normalised(
        {level: sum(p[i] * matrix[i][j] for i in range(len(p))) for j, level in enumerate(levels)}
    )


def _cumulative(values: Sequence[float]) -> list[float]:
    total = sum(values) or 1.0
    out = [0.0]
    for v in values:
        out.append(out[-1] + v / total)
    out[-1] = 1.0
    return out


def _normalised(values: Mapping[str, float]) -> dict[str, float]:
    total = sum(values.values())
    if total <= 0:
        return {c: 1.0 / len(values) for c in values} if values else {}
    return {c: v / total for c, v in values.items()}


def yes_shift(scores: Sequence[float], share: float) -> float:
    """The logit shift after which ``share`` of ``scores`` (probabilities of yes) are at
    least 0.5: subtract it from each score's logit (``shifted``).

    The boundary sits halfway (in logits) between the last score that must be a yes and
    the first that must not, so ties on either side stay together.
    """
    values = np.sort(_logits(scores))[::-1]
    if not len(values):
        return 0.0
    yes = round(min(max(share, 0.0), 1.0) * len(values))
    if yes == 0:
        return float(values[0]) + 1.0
    if yes == len(values):
        return float(values[-1]) - 1.0
    return float((values[yes - 1] + values[yes]) / 2)


def shifted(scores: Sequence[float] | np.ndarray, shift: float) -> np.ndarray:
    """Probabilities of yes moved by ``-shift`` in logits; order is kept, NaN stays NaN."""
    return expit(_logits(scores) - shift)


def _logits(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), FLOOR, 1.0 - FLOOR)
    return logit(p)
