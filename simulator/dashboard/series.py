"""The dashboard's plotted numbers, per step and arm, from a run's logs so far.

``metrics.parquet`` sums over arms, so every per-arm series is computed from the logs
(interactions, the users' per-step measures, the starting profiles). The same functions
serve a replayed and a live run: both hand over their logs up to the current step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.engagement import log_totals
from simulator.stats import gini


def engagement(interactions: pd.DataFrame) -> pd.DataFrame:
    """Per step and arm: ``exposures``, ``watches``, ``ctr`` and ``mean_rating``."""
    if not len(interactions):
        return pd.DataFrame(columns=["step", "arm", "exposures", "watches", "ctr", "mean_rating"])
    log = interactions.assign(arm=interactions["recommender"])
    return log_totals(log, ["step", "arm"]).reset_index()


def genre_entropy(users: pd.DataFrame, measure: str = "exposure_entropy") -> pd.DataFrame:
    """Per step and arm: the visitors' mean genre entropy (``exposure_entropy`` or
    ``watched_entropy``, from ``users.parquet``)."""
    if not len(users):
        return pd.DataFrame(columns=["step", "arm", measure])
    return users.groupby(["step", "arm"], as_index=False)[measure].mean()


def departures(users: pd.DataFrame, interactions: pd.DataFrame, churn_after: int) -> pd.DataFrame:
    """Who left, and at which step: ``user_id``, ``step``.

    No log names a departure, so the world's rule is replayed on the logs: a user leaves
    after ``churn_after`` visits in a row with nothing watched (never, when 0). A visit is
    a row of ``users.parquet``; what it watched, the interactions.
    """
    if not churn_after or not len(users):
        return pd.DataFrame({"user_id": pd.Series(dtype=str), "step": pd.Series(dtype=int)})
    watched = interactions[interactions["action"] == "watch"].groupby(["step", "user_id"]).size()
    visits = users[["step", "user_id"]].sort_values(["user_id", "step"], kind="stable")
    keys = pd.MultiIndex.from_frame(visits[["step", "user_id"]])
    visits = visits.assign(idle=watched.reindex(keys, fill_value=0).to_numpy() == 0)
    left = []
    for user_id, rows in visits.groupby("user_id", sort=False):
        streak = 0
        for step, idle in zip(rows["step"], rows["idle"], strict=True):
            streak = streak + 1 if idle else 0
            if streak >= churn_after:
                left.append((user_id, int(step)))
                break
    return pd.DataFrame(left, columns=["user_id", "step"])


def retention(profiles: pd.DataFrame, left: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per step (0 to ``steps``) and arm: the share of the arm's users still in the world."""
    arm_of = profiles.set_index("user_id")["arm"]
    sizes = arm_of.value_counts()
    rows = []
    for step in range(steps + 1):
        gone = arm_of.reindex(left.loc[left["step"] <= step, "user_id"]).value_counts()
        for arm, size in sizes.items():
            rows.append({"step": step, "arm": arm, "retention": 1 - gone.get(arm, 0) / size})
    return pd.DataFrame(rows, columns=["step", "arm", "retention"])


def long_tail(interactions: pd.DataFrame, catalogue: pd.Index) -> dict[str, np.ndarray]:
    """Per arm: exposures of every catalogue item so far, zeros kept, most shown first."""
    curves = {}
    for arm, rows in interactions.groupby("recommender", sort=True):
        counts = rows["item_id"].value_counts().reindex(catalogue, fill_value=0)
        curves[str(arm)] = np.sort(counts.to_numpy())[::-1]
    return curves


def ginis(curves: dict[str, np.ndarray]) -> dict[str, float]:
    """The Gini coefficient of each arm's exposure counts (0: even, 1: one item)."""
    return {arm: gini(counts) for arm, counts in curves.items()}
