"""Train/test splits of a dataset's interactions for offline evaluation.

Every split returns the training ``Dataset`` (same users, items and social graph, fewer
interactions) and, per test user, the set of held-out items that count as relevant. A
held-out item the user also has in training is dropped from their test set: recommenders
exclude seen items, so it could never be hit and would only deflate recall. Users left
with nothing relevant are not scored; ``meta`` counts every user dropped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import RecworldError

SPLITS = ("leave-last-out", "temporal", "random")


@dataclass(frozen=True)
class Split:
    """A training dataset and what each test user should be recommended.

    Attributes:
        train: The dataset with the held-out interactions removed.
        test: user_id -> held-out items that count as relevant (never empty).
        meta: The method, its parameters and counts: ``test_users``,
            ``test_interactions`` (held out, relevant or not), ``cold_users`` (held-out
            interactions but no training history), ``no_relevant_users`` (held-out
            interactions, none relevant), plus ``cutoff`` for the temporal split.
    """

    train: Dataset
    test: dict[str, set[str]]
    meta: dict[str, Any] = field(default_factory=dict)


def leave_last_out(data: Dataset, *, relevant_rating: float | None = None) -> Split:
    """Hold out each user's latest interaction (the later-logged one on a timestamp tie).

    The standard next-item protocol: every user with two or more interactions is tested
    once, on what they actually chose next.
    """
    inter = data.interactions.reset_index(drop=True)
    by_time = inter.sort_values(["user_id", "timestamp"], kind="stable")
    sizes = by_time.groupby("user_id", sort=False)["item_id"].transform("size")
    last = by_time[sizes > 1].groupby("user_id", sort=False).tail(1)
    is_test = np.zeros(len(inter), dtype=bool)
    is_test[last.index.to_numpy()] = True
    return _make_split(data, is_test, "leave-last-out", {}, relevant_rating)


def temporal_split(
    data: Dataset, *, test_share: float = 0.2, relevant_rating: float | None = None
) -> Split:
    """Hold out everything at or after one global time cutoff.

    The cutoff is the ``1 - test_share`` quantile of the timestamps, so about the last
    ``test_share`` of the interactions are test. Unlike per-user splits, no training
    interaction comes from the future of a test one, as in a deployed system. Users who
    appear only after the cutoff are cold starts: counted in ``meta["cold_users"]`` and
    not scored.
    """
    _check_share(test_share)
    timestamps = data.interactions["timestamp"].to_numpy()
    cutoff = float(np.quantile(timestamps, 1.0 - test_share)) if len(timestamps) else 0.0
    is_test = timestamps >= cutoff
    params = {"test_share": test_share, "cutoff": cutoff}
    return _make_split(data, is_test, "temporal", params, relevant_rating)


def random_split(
    data: Dataset,
    *,
    test_share: float = 0.2,
    seed: int = 0,
    relevant_rating: float | None = None,
) -> Split:
    """Hold out each interaction independently with probability ``test_share`` (seeded).

    A user whose every interaction was drawn keeps the one with the largest draw in
    training, so nobody is tested without a history; users with one interaction are
    never tested.
    """
    _check_share(test_share)
    users = data.interactions["user_id"].to_numpy()
    draw = np.random.default_rng(seed).random(len(users))
    is_test = draw < test_share
    largest = pd.Series(draw).groupby(users).idxmax().to_numpy()
    is_test[largest] = False
    params = {"test_share": test_share, "seed": seed}
    return _make_split(data, is_test, "random", params, relevant_rating)


def make_split(
    data: Dataset,
    method: str,
    *,
    seed: int = 0,
    test_share: float = 0.2,
    relevant_rating: float | None = None,
) -> Split:
    """Split by name (one of ``SPLITS``), for the CLI and ``offline.evaluate``."""
    if method == "leave-last-out":
        return leave_last_out(data, relevant_rating=relevant_rating)
    if method == "temporal":
        return temporal_split(data, test_share=test_share, relevant_rating=relevant_rating)
    if method == "random":
        return random_split(data, test_share=test_share, seed=seed, relevant_rating=relevant_rating)
    raise RecworldError(f"unknown split {method!r}; choose one of {', '.join(SPLITS)}")


def _make_split(
    data: Dataset,
    is_test: np.ndarray,
    method: str,
    params: dict[str, Any],
    relevant_rating: float | None,
) -> Split:
    inter = data.interactions.reset_index(drop=True)
    if relevant_rating is not None and inter["rating"].isna().all():
        raise RecworldError(
            f"relevant rating {relevant_rating} given, but {data.name} has no ratings "
            "(implicit feedback); leave the threshold out"
        )
    train_inter = inter[~is_test].reset_index(drop=True)
    held = inter[is_test]
    trained_users = set(train_inter["user_id"])
    seen = set(zip(train_inter["user_id"], train_inter["item_id"], strict=True))

    warm = held[held["user_id"].isin(trained_users)]
    unseen = [pair not in seen for pair in zip(warm["user_id"], warm["item_id"], strict=True)]
    candidates = warm[np.asarray(unseen, dtype=bool)]
    if relevant_rating is not None:
        candidates = candidates[candidates["rating"] >= relevant_rating]
    test = {
        str(user): set(items) for user, items in candidates.groupby("user_id", sort=True)["item_id"]
    }
    held_users = set(held["user_id"])
    cold = held_users - trained_users
    meta = {
        "split": method,
        **params,
        "relevant_rating": relevant_rating,
        "train_interactions": len(train_inter),
        "test_interactions": int(is_test.sum()),
        "test_users": len(test),
        "cold_users": len(cold),
        "no_relevant_users": len(held_users) - len(cold) - len(test),
    }
    train = Dataset(
        data.name, data.users, data.items, train_inter, data.social, data.source, data.meta
    )
    return Split(train=train, test=test, meta=meta)


def _check_share(test_share: float) -> None:
    if not 0.0 < test_share < 1.0:
        raise RecworldError(f"test share {test_share} must lie strictly between 0 and 1")
