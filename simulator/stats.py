"""Summary statistics shared by the world, offline evaluation, closed-loop comparison,
fidelity and the report, and the weighted draw of unseen items that calibration and the
fidelity suite's synthetic logs both expose simulated users to.

Confidence intervals use Student's t over independent units (users offline, seeds in
closed loop): the units are few in closed loop (5 seeds), where a bootstrap interval is
too narrow, and many offline, where t and bootstrap agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy import stats as st


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval; ``low``/``high`` are NaN for fewer than 2 units."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        if self.n < 2 or not np.isfinite(self.low):
            return f"{self.mean:.4f}"
        return f"{self.mean:.4f} ± {self.half_width:.4f}"


def mean_ci(values: Iterable[float], level: float = 0.95) -> Estimate:
    """Mean and two-sided t interval; NaNs (undefined for a unit) are dropped."""
    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, float("nan"), float("nan"), n)
    sem = float(x.std(ddof=1)) / np.sqrt(n)
    if sem == 0.0:
        return Estimate(mean, mean, mean, n)
    low, high = st.t.interval(level, n - 1, loc=mean, scale=sem)
    return Estimate(mean, float(low), float(high), n)


def gini(counts: Iterable[float]) -> float:
    """Gini coefficient of non-negative counts: 0 when equal, → 1 when one holds all.

    Pass the exposure count of every item in the catalogue, zeros included; leaving out
    never-shown items understates concentration.
    """
    x = np.sort(np.asarray(list(counts) if not isinstance(counts, np.ndarray) else counts, float))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("gini needs non-negative counts")
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * x).sum()) / (n * x.sum()) - (n + 1) / n)


def entropy_bits(counts: Iterable[float]) -> float:
    """Shannon entropy in bits of a count vector (zeros ignored)."""
    x = np.asarray(list(counts) if not isinstance(counts, np.ndarray) else counts, float)
    total = x.sum()
    if total <= 0:
        return 0.0
    p = x[x > 0] / total
    return float(-(p * np.log2(p)).sum())


def total_variation(p: Iterable[float], q: Iterable[float]) -> float:
    """Half the L1 distance between two distributions over the same outcomes: 0 equal,
    1 disjoint."""
    a = np.asarray(list(p) if not isinstance(p, np.ndarray) else p, float)
    b = np.asarray(list(q) if not isinstance(q, np.ndarray) else q, float)
    return float(0.5 * np.abs(a - b).sum())


def draw_unseen(
    weights: np.ndarray,
    seen: sparse.csr_matrix,
    rows: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``k`` columns per entry of ``rows``, drawn ∝ ``weights`` without replacement among the
    columns that row of ``seen`` leaves out, most likely first.

    Exponential keys: keeping the k smallest of E / w (E ~ Exp(1)) is a weighted draw
    without replacement (the Gumbel top-k trick without the logarithms), with no per-row
    Python loop. A row with fewer than ``k`` unseen columns ends with seen ones.

    Args:
        weights: Positive weight per column.
        seen: Boolean rows × columns; ``rows`` index its rows.
        rows: The row of ``seen`` each draw excludes.
        k: Columns per draw, at most the number of columns.
        rng: The generator; the keys are drawn in chunks of rows, in order.
    """
    n = len(weights)
    inverse_w = 1.0 / np.asarray(weights, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), k), dtype=np.int64)
    chunk = max(1, (8 << 20) // max(1, n))
    for start in range(0, len(rows), chunk):
        stop = min(start + chunk, len(rows))
        keys = rng.standard_exponential(size=(stop - start, n)) * inverse_w
        keys[seen[rows[start:stop]].toarray()] = np.inf
        top = np.argpartition(keys, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
        out[start:stop] = np.take_along_axis(top, order, axis=1)
    return out
