"""Held-out cases that every subject answers: the same users, items and labels for all.

For each sampled user, a few rated interactions are withheld from the training data:
some liked ones (rating ≥ ``liked``) become the positives of taste discrimination and of
ranking, and all of them are the real ratings that rating fidelity compares against.
Negatives are items the user never touched, drawn two ways:

* ``uniform``: from the whole catalogue, as Agent4Rec did. Liked items are far more
  popular than random ones, so popularity alone tells them apart.
* ``popularity``: each positive gets negatives of about its own popularity (the nearest
  in log training count), which takes that shortcut away.

Each positive gets ``max(multiples)`` negatives of each kind in a fixed order, and the
case for multiple m uses the first m, so the cases for m = 1, 2, 3, 9 are nested and
share their positives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import RecworldError

NEGATIVE_KINDS = ("uniform", "popularity")
RANKING_CANDIDATES = 10
POPULARITY_POOL = 30
"""A popularity-matched negative is drawn from the positive's 30 nearest unseen items."""


@dataclass(frozen=True)
class CaseConfig:
    """How many users and items the suite holds out.

    Attributes:
        users: Held-out users (sampled among those with enough liked history).
        positives: Liked items withheld per user for discrimination.
        rated: Rated items withheld per user in all (positives included), for ratings.
        multiples: Negatives per positive in the discrimination cases.
        liked: Lowest rating that counts as liked.
        min_history: Fewest interactions a user keeps in training.
        seed: Seeds every draw.
    """

    users: int = 100
    positives: int = 5
    rated: int = 10
    multiples: tuple[int, ...] = (1, 2, 3, 9)
    liked: float = 4.0
    min_history: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.users < 1 or self.positives < 1:
            raise RecworldError(
                f"fidelity needs at least one user and one positive; got users={self.users}, "
                f"positives={self.positives}"
            )
        if self.rated < self.positives:
            raise RecworldError(
                f"rated ({self.rated}) must be at least positives ({self.positives}): the "
                "withheld liked items are among the withheld rated ones"
            )
        if not self.multiples or min(self.multiples) < 1:
            raise RecworldError(f"multiples must be positive integers, got {self.multiples}")


@dataclass
class Cases:
    """The training data and the withheld cases.

    Attributes:
        train: The dataset without the withheld interactions.
        users: The held-out users, in order.
        discrimination: Rows of (user_id, item_id, label, kind, slot): positives have
            kind "positive" and slot -1; a negative's slot is its index among the
            positive's negatives, so the case for multiple m keeps slots < m.
        ranking: Rows of (user_id, item_id, label, position): one withheld liked item and
            nine unseen items per user, shuffled.
        rating: Rows of (user_id, item_id, rating): the withheld real ratings.
        popularity: Training interaction count per item id.
    """

    train: Dataset
    users: list[str]
    discrimination: pd.DataFrame
    ranking: pd.DataFrame
    rating: pd.DataFrame
    popularity: pd.Series
    config: CaseConfig = field(default_factory=CaseConfig)

    def discrimination_case(self, kind: str, multiple: int) -> pd.DataFrame:
        """The positives plus the first ``multiple`` negatives of ``kind`` per positive."""
        d = self.discrimination
        keep = (d["kind"] == "positive") | ((d["kind"] == kind) & (d["slot"] < multiple))
        return d[keep]


def build_cases(dataset: Dataset, config: CaseConfig | None = None) -> Cases:
    """Withhold cases from ``dataset`` (explicit ratings needed) and return them with train."""
    config = config or CaseConfig()
    inter = dataset.interactions
    if not inter["rating"].notna().any():
        raise RecworldError(
            f"{dataset.name}: the fidelity suite needs explicit ratings (a rating column); "
            "this dataset has none"
        )
    rng = np.random.default_rng(config.seed)
    inter = inter[inter["rating"].notna()].reset_index(drop=True)
    users = _eligible_users(inter, config, rng)
    held_rows: list[int] = []
    positives: dict[str, list[str]] = {}
    for user, rows in inter[inter["user_id"].isin(users)].groupby("user_id", sort=False):
        liked = rows.index[rows["rating"] >= config.liked].to_numpy()
        pos_rows = rng.choice(liked, size=config.positives, replace=False)
        others = rows.index.difference(pos_rows).to_numpy()
        n_more = min(config.rated - config.positives, len(others) - config.min_history)
        more = rng.choice(others, size=max(0, n_more), replace=False)
        held_rows.extend([*pos_rows.tolist(), *more.tolist()])
        positives[str(user)] = inter.loc[pos_rows, "item_id"].astype(str).tolist()
    held = inter.loc[sorted(held_rows)]
    train_inter = dataset.interactions.drop(
        dataset.interactions.index[
            dataset.interactions.set_index(["user_id", "item_id"]).index.isin(
                held.set_index(["user_id", "item_id"]).index
            )
        ]
    ).reset_index(drop=True)
    train = Dataset(
        dataset.name,
        dataset.users,
        dataset.items,
        train_inter,
        social=dataset.social,
        source=dataset.source,
        meta=dataset.meta,
    )
    item_ids = np.asarray(dataset.item_ids, dtype=object)
    counts = train_inter["item_id"].astype(str).value_counts().reindex(item_ids, fill_value=0)
    touched = dataset.interactions.groupby("user_id")["item_id"].agg(lambda s: set(map(str, s)))
    discrimination = _discrimination(users, positives, touched, counts, config, rng)
    ranking = _ranking(users, positives, touched, item_ids, rng)
    rating = held[["user_id", "item_id", "rating"]].astype({"user_id": str, "item_id": str})
    return Cases(
        train=train,
        users=users,
        discrimination=discrimination,
        ranking=ranking,
        rating=rating.reset_index(drop=True),
        popularity=counts,
        config=config,
    )


def _eligible_users(inter: pd.DataFrame, config: CaseConfig, rng: np.random.Generator) -> list[str]:
    per_user = inter.groupby("user_id").agg(
        n=("item_id", "size"), liked=("rating", lambda r: int((r >= config.liked).sum()))
    )
    ok = per_user[
        (per_user["liked"] >= config.positives)
        & (per_user["n"] >= config.min_history + config.positives)
    ]
    if ok.empty:
        raise RecworldError(
            f"no user has {config.positives} liked items and {config.min_history} more "
            "interactions; lower --positives or min_history"
        )
    ids = np.sort(ok.index.astype(str).to_numpy())
    n = min(config.users, len(ids))
    return sorted(rng.choice(ids, size=n, replace=False).tolist())


def _discrimination(
    users: list[str],
    positives: dict[str, list[str]],
    touched: pd.Series,
    counts: pd.Series,
    config: CaseConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    per_positive = max(config.multiples)
    item_ids = counts.index.to_numpy()
    log_counts = np.log1p(counts.to_numpy(dtype=float))
    rows: list[tuple[str, str, bool, str, int]] = []
    for user in users:
        unseen = np.flatnonzero(~np.isin(item_ids, list(touched[user])))
        need = per_positive * len(positives[user])
        if len(unseen) < need:
            raise RecworldError(
                f"user {user} has only {len(unseen)} unseen items for {need} negatives; "
                "lower the largest multiple"
            )
        rows.extend((user, item, True, "positive", -1) for item in positives[user])
        uniform = rng.choice(unseen, size=need, replace=False)
        for j, row in enumerate(uniform):
            rows.append((user, item_ids[row], False, "uniform", j // len(positives[user])))
        available = np.ones(len(unseen), bool)
        for item in positives[user]:
            distance = np.abs(log_counts[unseen] - np.log1p(counts[item]))
            distance[~available] = np.inf
            pool = np.argsort(distance, kind="stable")[: max(POPULARITY_POOL, per_positive)]
            pool = pool[np.isfinite(distance[pool])]
            chosen = rng.choice(pool, size=per_positive, replace=False)
            available[chosen] = False
            rows.extend(
                (user, item_ids[unseen[c]], False, "popularity", slot)
                for slot, c in enumerate(chosen)
            )
    return pd.DataFrame(rows, columns=["user_id", "item_id", "label", "kind", "slot"])


def _ranking(
    users: list[str],
    positives: dict[str, list[str]],
    touched: pd.Series,
    item_ids: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    rows: list[tuple[str, str, bool, int]] = []
    for user in users:
        unseen = np.flatnonzero(~np.isin(item_ids, list(touched[user])))
        negatives = item_ids[rng.choice(unseen, size=RANKING_CANDIDATES - 1, replace=False)]
        items = [positives[user][0], *negatives.tolist()]
        labels = [True] + [False] * (RANKING_CANDIDATES - 1)
        order = rng.permutation(RANKING_CANDIDATES)
        rows.extend((user, items[i], labels[i], position) for position, i in enumerate(order, 1))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "label", "position"])
