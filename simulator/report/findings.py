"""What the report's words may claim, judged from the data rather than hoped for.

Two judgements: whether a per-step series has a trend beyond its own step-to-step noise
(a caption says "rises" or "falls" only then), and whether the arms are so unequal in
size that comparing them needs a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

MIN_STEPS = 3
"""Fewer steps leave no residual to measure the noise a trend must beat."""

BALANCE = 0.8
"""Arms are unbalanced when the smaller has under this share of the larger's users who
visited or exposures: arms are split into equal shares, so a gap that large means one
arm's numbers rest on a clearly smaller sample (users leaving, or fewer visits)."""


@dataclass(frozen=True)
class Trend:
    """A least-squares slope per step with its 95% t interval; ``direction`` is "rises" or
    "falls" only when the interval excludes zero."""

    slope: float
    low: float
    high: float
    steps: int

    @property
    def direction(self) -> str:
        if self.steps < MIN_STEPS:
            return "has too few steps to judge"
        if self.low > 0:
            return "rises"
        if self.high < 0:
            return "falls"
        return "stays about level"


def trend(steps: Sequence[float], values: Sequence[float]) -> Trend:
    """Fit ``values`` against ``steps`` (NaNs dropped); the interval comes from the residuals,
    so a series that jumps around needs a larger slope to count as a trend."""
    x, y = np.asarray(steps, float), np.asarray(values, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n < MIN_STEPS or np.ptp(x) == 0:
        return Trend(float("nan"), float("nan"), float("nan"), n)
    if np.ptp(y) == 0:  # constant: no slope, and no rounding residue to call one
        return Trend(0.0, 0.0, 0.0, n)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (slope * x + intercept)
    se = np.sqrt((residuals**2).sum() / (n - 2) / ((x - x.mean()) ** 2).sum())
    half = float(st.t.ppf(0.975, n - 2) * se)
    return Trend(float(slope), float(slope - half), float(slope + half), n)


def describe_trends(frame: pd.DataFrame, column: str, arms: Sequence[str], fmt: str) -> str:
    """``arm rises (+0.05 per step, 95% CI +0.01 to +0.09); other stays about level (...)``
    for each arm of ``frame`` (step, arm, ``column``)."""
    parts = []
    for arm in arms:
        rows = frame[frame["arm"] == arm]
        if rows.empty:
            continue
        t = trend(rows["step"], rows[column])
        if t.steps < MIN_STEPS:
            parts.append(f"{arm} {t.direction} ({t.steps} with a value)")
            continue
        numbers = f"{fmt.format(t.slope)} per step, 95% CI {fmt.format(t.low)} to "
        parts.append(f"{arm} {t.direction} ({numbers}{fmt.format(t.high)})")
    return "; ".join(parts) if parts else "no values"


def imbalance(sizes: pd.DataFrame) -> str | None:
    """The counts that break the ``BALANCE`` rule, as words, or None when the arms are even.

    ``sizes`` has one row per arm and the columns ``users`` and ``exposures``.
    """
    if len(sizes) < 2:
        return None
    labels = {"users": "users who visited", "exposures": "exposures"}
    found = []
    for column, label in labels.items():
        counts = sizes[column]
        if counts.min() < BALANCE * counts.max():
            share = counts.min() / counts.max()
            listed = ", ".join(f"{arm} {int(n):,}" for arm, n in counts.items())
            found.append(f"{label} {listed} (smallest {share:.0%} of largest)")
    return "; ".join(found) or None
