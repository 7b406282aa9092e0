"""The numbers behind the report's plots, computed from a run's logs.

Per-arm series come from the logs rather than ``metrics.parquet`` (which sums over arms),
so a single-recommender run and an A/B run are drawn the same way: one line per
recommender, named as the logs name it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.engagement import log_totals
from simulator.rundir import FinishedRun
from simulator.stats import gini, mean_ci, total_variation

ENTROPY_MEASURES = {
    "exposure_entropy": "genre entropy of the step's exposures",
    "watched_entropy": "genre entropy of everything watched so far",
}


def engagement(run: FinishedRun) -> pd.DataFrame:
    """Per step and arm: visits, exposures, watches, ctr, mean_rating, pages_per_visit."""
    inter = run.interactions
    keys = ["step", "arm"]
    log = inter.assign(arm=inter["recommender"])
    frame = log_totals(log, keys)
    frame["pages"] = log.drop_duplicates(["step", "user_id", "page"]).groupby(keys).size()
    visits = run.users.groupby(keys).size().rename("visits")
    frame = frame.join(visits, how="outer").fillna({"exposures": 0, "watches": 0, "pages": 0})
    frame["visits"] = frame["visits"].fillna(0)
    frame["ctr"] = frame["watches"] / frame["exposures"].where(frame["exposures"] > 0)
    frame["pages_per_visit"] = frame["pages"] / frame["visits"].where(frame["visits"] > 0)
    return frame.reset_index()


def arm_totals(run: FinishedRun) -> pd.DataFrame:
    """Per arm over the whole run: exposures, watches, ctr, mean_rating."""
    return log_totals(run.interactions, "recommender")


def entropy(run: FinishedRun, measure: str) -> pd.DataFrame:
    """Per step and arm: the users' mean ``measure`` with its 95% t interval over users.

    The interval is clipped to the range of the users' values over the run (a mean cannot
    leave it); with two or three visitors in a step a t interval is otherwise so wide that
    it flattens every other curve.
    """
    rows = []
    for (step, arm), values in run.users.groupby(["step", "arm"])[measure]:
        est = mean_ci(values.to_numpy())
        rows.append({"step": step, "arm": arm, "mean": est.mean, "low": est.low, "high": est.high})
    frame = pd.DataFrame(rows, columns=["step", "arm", "mean", "low", "high"])
    if len(run.users):
        bounds = run.users[measure].min(), run.users[measure].max()
        frame[["low", "high"]] = frame[["low", "high"]].clip(*bounds)
    return frame


@dataclass(frozen=True)
class RatingShares:
    """The share of ratings at each value of a scale (values binned to the nearest step)."""

    values: np.ndarray
    shares: np.ndarray
    n: int


def rating_scale(*samples: np.ndarray, scale: tuple[float, float] | None = None) -> np.ndarray:
    """Integer rating values covering ``scale`` (a dataset's) and every sample."""
    finite = [s[np.isfinite(s)] for s in samples]
    lows = [float(s.min()) for s in finite if len(s)]
    highs = [float(s.max()) for s in finite if len(s)]
    if scale is not None:
        lows.append(scale[0])
        highs.append(scale[1])
    if not lows:
        return np.arange(1.0, 6.0)
    return np.arange(np.floor(min(lows)), np.ceil(max(highs)) + 1.0)


def rating_shares(ratings: np.ndarray, values: np.ndarray) -> RatingShares:
    ratings = ratings[np.isfinite(ratings)]
    edges = np.append(values - 0.5, values[-1] + 0.5)
    counts, _ = np.histogram(ratings, bins=edges)
    total = counts.sum()
    shares = counts / total if total else np.zeros(len(values))
    return RatingShares(values, shares, len(ratings))


def tv_distance(a: RatingShares, b: RatingShares) -> float:
    """Total-variation distance between two rating distributions on one scale."""
    return total_variation(a.shares, b.shares)


def exposure_counts(items: pd.Series, catalogue: pd.Index) -> np.ndarray:
    """How often each catalogue item appears in ``items``, zeros kept, most shown first."""
    counts = items.value_counts().reindex(catalogue, fill_value=0)
    return np.sort(counts.to_numpy())[::-1]


def long_tail(
    run: FinishedRun, catalogue: pd.Index, history: pd.DataFrame | None
) -> dict[str, np.ndarray]:
    """Sorted exposure counts per arm, plus the training log's popularity (``dataset``)."""
    log = run.interactions
    curves = {
        str(arm): exposure_counts(group["item_id"], catalogue)
        for arm, group in log.groupby("recommender", sort=False)
    }
    if history is not None and len(history):
        curves["dataset"] = exposure_counts(history["item_id"], catalogue)
    return curves


def ginis(curves: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: gini(counts) for name, counts in curves.items()}


def llm_per_step(run: FinishedRun) -> pd.DataFrame:
    """Per step: calls, batches, prompt and completion tokens, cache hits, failures."""
    columns = ["calls", "batches", "prompt_tokens", "completion_tokens", "cache_hits", "failures"]
    per_step = run.llm_stats.get("per_step")
    if per_step:
        frame = pd.DataFrame(per_step)
    else:  # older runs: the metrics hold most of it
        renames = {"llm_calls": "calls", "llm_batches": "batches", "llm_failures": "failures"}
        frame = run.metrics.rename(columns=renames)
    for column in ["step", *columns]:
        if column not in frame:
            frame[column] = 0
    return frame[["step", *columns]].fillna(0).sort_values("step").reset_index(drop=True)
