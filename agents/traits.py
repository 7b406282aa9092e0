"""Agent4Rec's behavioural traits, measured from real histories instead of drawn at random.

Agent4Rec gives every user three traits at three levels. Reading them off the data keeps
the simulated population as skewed as the real one: heavy raters stay heavy, users who
rate like the crowd stay conformist, and genre specialists stay narrow.

Agents may not import ``simulator``, so the dataset is typed by the ``History`` protocol,
which ``simulator.dataset.Dataset`` satisfies.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from agents.profile import Level, Traits

TRAIT_COLUMNS = ("activity", "conformity", "diversity")
RAW_COLUMNS = ("n_ratings", "conformity_score", "diversity_score")
COVERAGE = 0.8
"""Share of a user's history the diversity count must cover."""


class History(Protocol):
    """The frames of ``simulator.dataset.Dataset`` that trait and utility models read."""

    @property
    def users(self) -> pd.DataFrame: ...

    @property
    def items(self) -> pd.DataFrame: ...

    @property
    def interactions(self) -> pd.DataFrame: ...


def traits_from_history(dataset: History, *, coverage: float = COVERAGE) -> pd.DataFrame:
    """Trait levels per user, by terciles over the dataset's users.

    - activity: number of interactions (ratings); more is higher.
    - conformity: mean absolute deviation of the user's ratings from each item's mean
      rating; a *small* deviation is *high* conformity. Users without ratings, and every
      user of an implicit-feedback dataset (rating NaN), are "medium".
    - diversity: number of genres needed to cover ``coverage`` of the history (each item
      weighs 1, split evenly over its genres), interpolated between whole genres so that
      the terciles do not collapse on ties; more genres is higher. Users without history
      or genres are "medium".

    Args:
        dataset: Users (every row gets traits), items (genres) and interactions.
        coverage: The share of the history the diversity count must reach.

    Returns:
        One row per user in ``dataset.users`` order: ``user_id``, ``activity``,
        ``conformity``, ``diversity`` (``"low"``/``"medium"``/``"high"``), and the raw
        ``n_ratings`` (int), ``conformity_score`` and ``diversity_score`` (float, NaN where
        undefined).
    """
    users = pd.Index(dataset.users["user_id"].astype(str), name="user_id")
    inter = dataset.interactions[["user_id", "item_id", "rating"]]
    inter = inter[inter["user_id"].isin(users)]

    n_ratings = inter.groupby("user_id", sort=False).size().reindex(users, fill_value=0)
    conformity = _conformity_scores(inter).reindex(users)
    diversity = _diversity_scores(inter, dataset.items, coverage).reindex(users)

    return pd.DataFrame(
        {
            "user_id": users.to_numpy(),
            "activity": _levels(n_ratings.to_numpy(dtype=float)),
            "conformity": _levels(-conformity.to_numpy(dtype=float)),
            "diversity": _levels(diversity.to_numpy(dtype=float)),
            "n_ratings": n_ratings.to_numpy(dtype="int64"),
            "conformity_score": conformity.to_numpy(dtype=float),
            "diversity_score": diversity.to_numpy(dtype=float),
        }
    )


def measured_traits(dataset: History, *, coverage: float = COVERAGE) -> dict[str, Traits]:
    """Each user's traits from their history, leaving unset those the data cannot tell.

    ``traits_from_history`` reads an undefined trait (no interactions, no ratings, no
    genres) as medium so that models have a level; a trait set to that default would be
    presented as the user's own, so here it stays unset (``Traits.known`` leaves it out).
    """
    frame = traits_from_history(dataset, coverage=coverage)
    defined = {
        "activity": (frame["n_ratings"] > 0).to_numpy(),
        "conformity": frame["conformity_score"].notna().to_numpy(),
        "diversity": frame["diversity_score"].notna().to_numpy(),
    }
    levels = {name: frame[name].to_numpy() for name in TRAIT_COLUMNS}
    return {
        str(user): Traits(
            **{name: Level(levels[name][row]) for name in TRAIT_COLUMNS if defined[name][row]}
        )
        for row, user in enumerate(frame["user_id"])
    }


def _conformity_scores(inter: pd.DataFrame) -> pd.Series:
    """Mean |rating − item mean| per user who has ratings."""
    rated = inter.dropna(subset=["rating"])
    if rated.empty:
        return pd.Series(dtype=float)
    item_mean = rated.groupby("item_id", sort=False)["rating"].transform("mean")
    deviation = (rated["rating"] - item_mean).abs()
    return deviation.groupby(rated["user_id"], sort=False).mean()


def _diversity_scores(inter: pd.DataFrame, items: pd.DataFrame, coverage: float) -> pd.Series:
    """Genres needed to cover ``coverage`` of each user's history, interpolated."""
    item_index = pd.Index(items["item_id"].astype(str))
    genre_lists = items["genres"].reset_index(drop=True).explode().dropna()
    if genre_lists.empty or inter.empty:
        return pd.Series(dtype=float)
    genre_codes, _ = pd.factorize(genre_lists)
    per_item = np.bincount(genre_lists.index, minlength=len(items))
    # Items x genres, each row summing to 1: an item weighs 1 however many genres it has.
    item_genre = sparse.csr_matrix(
        (1.0 / per_item[genre_lists.index], (genre_lists.index, genre_codes)),
        shape=(len(items), int(genre_codes.max()) + 1),
    )
    user_codes, user_ids = pd.factorize(inter["user_id"])
    item_rows = item_index.get_indexer(inter["item_id"].astype(str))
    known = item_rows >= 0
    history = sparse.csr_matrix(
        (np.ones(int(known.sum())), (user_codes[known], item_rows[known])),
        shape=(len(user_ids), len(items)),
    )
    mass = (history @ item_genre).tocoo()
    totals = np.bincount(mass.row, weights=mass.data, minlength=len(user_ids))
    share = mass.data / totals[mass.row]
    order = np.lexsort((-share, mass.row))
    user, share = mass.row[order], share[order]
    after = np.cumsum(share)
    starts = np.r_[0, np.flatnonzero(np.diff(user)) + 1]
    offset = np.repeat(after[starts] - share[starts], np.diff(np.r_[starts, len(user)]))
    after -= offset
    before = after - share
    # The genres still needed: those whose cumulative share starts below the target. The
    # last one counts only by the fraction of it needed to reach the target exactly.
    target = coverage - 1e-9
    needed = before < target
    partial = np.minimum((target - before[needed]) / share[needed], 1.0)
    scores = np.bincount(user[needed], weights=partial, minlength=len(user_ids))
    has_genres = np.bincount(user, minlength=len(user_ids)) > 0
    return pd.Series(scores[has_genres], index=pd.Index(user_ids)[has_genres])


def _levels(values: np.ndarray) -> np.ndarray:
    """Terciles by mid-rank: ties share a level, NaN is "medium"."""
    out = np.full(len(values), Level.MEDIUM.value, dtype=object)
    known = ~np.isnan(values)
    n = int(known.sum())
    if n == 0:
        return out
    ranks = pd.Series(values[known]).rank(method="average").to_numpy()
    position = (ranks - 0.5) / n
    levels = np.where(
        position < 1 / 3, Level.LOW.value, np.where(position < 2 / 3, "medium", Level.HIGH.value)
    )
    out[known] = levels
    return out
