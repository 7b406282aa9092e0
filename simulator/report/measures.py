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
from simulator.ratings import RatingScale, nearest_level, scale_of
from simulator.rundir import FinishedRun
from simulator.stats import entropy_bits, gini, mean_ci, total_variation

BOOTSTRAP_RESAMPLES = 200
"""Resamples of users behind the interval of the pooled watched-genre entropy."""


def engagement(run: FinishedRun) -> pd.DataFrame:
    """Per step and arm: visits, exposures, watches, ctr, mean_rating, pages_per_visit.

    Mean rating and pages per visit are sample means that the plots draw on a zoomed axis,
    so they come with 95% t intervals (``rating_low``/``rating_high`` over the step's rated
    watches, ``pages_low``/``pages_high`` over its visits).
    """
    inter = run.interactions
    keys = ["step", "arm"]
    log = inter.assign(arm=inter["recommender"])
    frame = log_totals(log, keys)
    pages = log.drop_duplicates(["step", "user_id", "page"]).groupby([*keys, "user_id"]).size()
    visits = run.users[[*keys, "user_id"]].drop_duplicates()
    per_visit = visits.join(pages.rename("pages"), on=[*keys, "user_id"]).fillna({"pages": 0})
    frame = frame.join(per_visit.groupby(keys).size().rename("visits"), how="outer")
    frame["pages"] = pages.groupby(keys).sum()
    frame = frame.fillna({"exposures": 0, "watches": 0, "pages": 0, "visits": 0})
    frame["ctr"] = frame["watches"] / frame["exposures"].where(frame["exposures"] > 0)
    frame["pages_per_visit"] = frame["pages"] / frame["visits"].where(frame["visits"] > 0)
    rated = log[(log["action"] == "watch") & log["rating"].notna()]
    rating = step_means(rated, "rating").set_index(keys)[["low", "high"]]
    frame = frame.join(rating.add_prefix("rating_"))
    pages_ci = step_means(per_visit, "pages").set_index(keys)[["low", "high"]]
    frame = frame.join(pages_ci.add_prefix("pages_"))
    return frame.reset_index()


def arm_totals(run: FinishedRun) -> pd.DataFrame:
    """Per arm over the whole run: exposures, watches, ctr, mean_rating."""
    return log_totals(run.interactions, "recommender")


def arm_sizes(run: FinishedRun, arms: list[str]) -> pd.DataFrame:
    """Per arm: ``users`` who visited at least once and ``exposures`` they were shown."""
    users = run.users.groupby("arm")["user_id"].nunique()
    exposures = run.interactions.groupby("recommender").size()
    frame = pd.DataFrame({"users": users, "exposures": exposures}).reindex(arms)
    return frame.fillna(0).astype(int)


def step_means(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per step and arm of ``frame``: the mean of ``column`` with its 95% t interval.

    The interval is clipped to the range of ``column`` over the whole frame (a mean cannot
    leave it); with two or three values in a step a t interval is otherwise so wide that
    it flattens every other curve.
    """
    rows = []
    for (step, arm), values in frame.groupby(["step", "arm"])[column]:
        est = mean_ci(values.to_numpy(float))
        rows.append({"step": step, "arm": arm, "mean": est.mean, "low": est.low, "high": est.high})
    out = pd.DataFrame(rows, columns=["step", "arm", "mean", "low", "high"])
    finite = frame[column].dropna()
    if len(finite):
        out[["low", "high"]] = out[["low", "high"]].clip(finite.min(), finite.max())
    return out


def exposure_entropy(run: FinishedRun) -> pd.DataFrame:
    """Per step and arm: the visitors' mean genre entropy of the step's exposures (bits)."""
    return step_means(run.users, "exposure_entropy")


def watched_entropy(
    run: FinishedRun,
    item_genres: dict[str, list[str]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per step and arm: the genre entropy (bits) of everything the arm's users watched up
    to and including the step, pooled (each watch adds its item's genres once).

    Cumulative by construction, so it only moves when someone watches. The 95% interval is
    for the arm's population (``pooled_entropy_interval``: the arm's users resampled with
    replacement, seeded, so the same run draws the same band). Steps before the arm's
    first watch are left out.
    """
    log = run.interactions
    watches = log[log["action"] == "watch"]
    genres = sorted({g for item in watches["item_id"].unique() for g in item_genres.get(item, ())})
    column = {g: i for i, g in enumerate(genres)}
    steps = np.sort(log["step"].unique())
    rng = np.random.default_rng(seed)
    rows = []
    for arm, arm_log in log.groupby("recommender", sort=False):
        users = pd.Index(arm_log["user_id"].unique())
        weights = rng.multinomial(len(users), np.full(len(users), 1 / len(users)), resamples)
        counts = np.zeros((len(users), len(genres)))  # each user's watches so far, by genre
        arm_watches = watches[watches["recommender"] == arm]
        watched = {
            step: list(zip(g["user_id"], g["item_id"], strict=True))
            for step, g in arm_watches.groupby("step")
        }
        for step in steps:
            for user, item in watched.get(step, []):
                for genre in item_genres.get(item, ()):
                    counts[users.get_loc(user), column[genre]] += 1
            pooled = counts.sum(axis=0)
            if pooled.sum() == 0:
                continue
            low, high = pooled_entropy_interval(counts, weights)
            rows.append(
                {
                    "step": step,
                    "arm": str(arm),
                    "mean": entropy_bits(pooled),
                    "low": float(low),
                    "high": float(high),
                }
            )
    return pd.DataFrame(rows, columns=["step", "arm", "mean", "low", "high"])


def pooled_entropy_interval(counts: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """95% basic bootstrap interval of the entropy of pooled counts (users × categories),
    from resampling weights (resamples × users, each row a multinomial draw of users).

    Entropy pooled from few watches is biased low, and a resample (with repeated users,
    so fewer distinct ones) lower still: the percentile interval sat below the value it
    was for, with the estimate at its top edge, and covered the population's entropy in
    56% of simulated 30-user arms. The basic interval, 2·estimate minus the resamples'
    quantiles, corrects by that bias (87% there, about 93% at 300 users; the 30-user case
    is tested) and can therefore lie above a run's own figure when it rests on few watches.
    Resamples without a watch have no entropy and are left out; the interval is kept
    within what entropy can be, 0 to log2 of the number of categories.
    """
    estimate = entropy_bits(counts.sum(axis=0))
    resampled = weights @ counts
    resampled = resampled[resampled.sum(axis=1) > 0]
    if not len(resampled):
        return estimate, estimate
    upper, lower = np.percentile(_row_entropies(resampled), [97.5, 2.5])
    most = float(np.log2(max(counts.shape[1], 1)))
    return max(0.0, 2 * estimate - upper), min(most, 2 * estimate - lower)


def _row_entropies(matrix: np.ndarray) -> np.ndarray:
    """``entropy_bits`` of every row."""
    totals = matrix.sum(axis=1, keepdims=True)
    p = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=1)


@dataclass(frozen=True)
class RatingShares:
    """The share of ratings at each value of a scale (values binned to the nearest step)."""

    values: np.ndarray
    shares: np.ndarray
    n: int


def rating_scale(*samples: np.ndarray, scale: RatingScale | None = None) -> np.ndarray:
    """The values ratings are binned on: the dataset's own levels (``scale``), else those
    of the scale the samples lie on together, else whole numbers covering them."""
    finite = [s[np.isfinite(s)] for s in samples]
    pooled = np.concatenate(finite) if finite else np.array([])
    if scale is None:
        try:
            scale = scale_of(pooled)
        except ValueError:  # no regular step: whole numbers
            scale = RatingScale(float(np.floor(pooled.min())), float(np.ceil(pooled.max())), 1.0)
    if scale is None:
        return np.arange(1.0, 6.0)
    return scale.levels


def rating_shares(ratings: np.ndarray, values: np.ndarray) -> RatingShares:
    """The share of ``ratings`` at each of ``values``, each rating at its nearest value."""
    ratings = np.asarray(ratings, dtype=float)
    ratings = ratings[np.isfinite(ratings)]
    index = np.searchsorted(values, nearest_level(ratings, values))
    counts = np.bincount(index, minlength=len(values))
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
