"""Click-through and mean rating, defined once for the world, the summary, report and compare.

Click-through is watches over exposures (items shown); the mean rating is pooled over
every rated watch. Both are NaN where undefined (nothing shown, nothing rated), never 0,
which would read as a result.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def click_through(watches: float, exposures: float) -> float:
    """Watches per exposure; NaN without exposures."""
    return watches / exposures if exposures else float("nan")


def mean_rating(ratings: Iterable[float | None]) -> float:
    """Mean of the given ratings, unrated (None/NaN) ones left out; NaN without any."""
    values = pd.to_numeric(pd.Series(list(ratings), dtype=object), errors="coerce")
    values = values.to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def log_totals(interactions: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """``exposures``, ``watches``, ``ctr`` and ``mean_rating`` of an interaction log: one row
    overall, or one per group of ``by`` (for example ``recommender``, or ``[step, arm]``)."""
    watch = interactions["action"] == "watch"
    log = interactions.assign(watch=watch, watched_rating=interactions["rating"].where(watch))
    if by is None:
        return pd.DataFrame(
            {
                "exposures": [len(log)],
                "watches": [int(watch.sum())],
                "mean_rating": [mean_rating(log["watched_rating"])],
                "ctr": [click_through(int(watch.sum()), len(log))],
            }
        )
    grouped = log.groupby(by)
    frame = pd.DataFrame(
        {
            "exposures": grouped.size(),
            "watches": grouped["watch"].sum(),
            "mean_rating": grouped["watched_rating"].mean(),
        }
    )
    frame["ctr"] = frame["watches"] / frame["exposures"].where(frame["exposures"] > 0)
    return frame
