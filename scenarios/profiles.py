"""Turn a dataset's users and items into agent profiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from agents.profile import ItemProfile, Level, Traits, UserProfile
from agents.profile import item_profiles as profiles_of_items
from agents.traits import measured_traits
from simulator.dataset import Dataset, rating_scale

DEMOGRAPHIC_COLUMNS = ("age", "gender", "occupation")
PERSONA_COLUMNS = ("traits", "status", "interests")
TRAIT_NAMES = ("activity", "conformity", "diversity")
LEVELS = (Level.LOW, Level.MEDIUM, Level.HIGH)


def item_profiles(dataset: Dataset) -> list[ItemProfile]:
    return profiles_of_items(dataset.items)


def user_profiles(
    users: pd.DataFrame,
    dataset: Dataset,
    rng: np.random.Generator,
    trait_shares: dict[str, Sequence[float]],
) -> list[UserProfile]:
    """Profiles for the sampled ``users``.

    Traits come from the data when it has them (the synthetic generator does), else from
    the users' histories (Agent4Rec's terciles). A trait the history cannot tell (conformity
    without ratings, diversity without genres) stays unset, so no persona presents a
    default as the user's. Users with no history draw all three with ``trait_shares``
    (shares of low/medium/high per trait), as Agent4Rec draws every user's.
    """
    favourites = favourite_genres(users, dataset)
    given = set(TRAIT_NAMES) <= set(users.columns)
    measured = measured_traits(dataset) if not given and len(dataset.interactions) else {}
    drawn = {
        name: rng.choice(len(LEVELS), size=len(users), p=_shares(trait_shares[name]))
        for name in TRAIT_NAMES
    }
    profiles = []
    for row, record in enumerate(users.to_dict("records")):
        history = measured.get(str(record["user_id"]))
        if history is not None and history.known():
            traits = history
        else:
            traits = Traits(
                **{
                    name: Level(record[name]) if record.get(name) else LEVELS[drawn[name][row]]
                    for name in TRAIT_NAMES
                }
            )
        profiles.append(
            UserProfile(
                user_id=record["user_id"],
                name=str(record.get("name") or ""),
                demographics=_fields(record, DEMOGRAPHIC_COLUMNS),
                persona=_fields(record, PERSONA_COLUMNS),
                favourite_genres=favourites.get(record["user_id"], ()),
                traits=traits,
            )
        )
    return profiles


def favourite_genres(
    users: pd.DataFrame, dataset: Dataset, top: int = 5
) -> dict[str, tuple[str, ...]]:
    """Genres ordered by preference: from a latent taste vector, else from liked history."""
    if "taste" in users.columns and "genres" in dataset.meta:
        names = list(dataset.meta["genres"])
        return {
            u: tuple(names[i] for i in np.argsort(-np.asarray(t), kind="stable")[:top])
            for u, t in zip(users["user_id"], users["taste"], strict=True)
        }
    inter = dataset.interactions
    inter = inter[inter["user_id"].isin(set(users["user_id"]))]
    scale = rating_scale(dataset)
    if scale is not None:
        inter = inter[inter["rating"] >= scale.liked]
    genres = dataset.items.set_index("item_id")["genres"]
    pairs = (
        inter[["user_id", "item_id"]].assign(genre=inter["item_id"].map(genres)).explode("genre")
    )
    pairs = pairs.dropna(subset=["genre"])
    counts = pairs.groupby(["user_id", "genre"]).size().reset_index(name="n")
    counts = counts.sort_values(["user_id", "n", "genre"], ascending=[True, False, True])
    return {u: tuple(g["genre"].head(top)) for u, g in counts.groupby("user_id", sort=False)}


def _fields(record: dict, columns: Sequence[str]) -> dict[str, str]:
    return {
        c: str(record[c]).strip()
        for c in columns
        if c in record and pd.notna(record[c]) and str(record[c]).strip()
    }


def _shares(values: Sequence[float]) -> np.ndarray:
    p = np.asarray(values, dtype=float)
    return p / p.sum()


def pareto_activity(
    profiles: Sequence[UserProfile], rng: np.random.Generator, *, alpha: float, mean: float
) -> list[float]:
    """RecAgent's long-tailed activity: Pareto draws, ranked onto the activity trait.

    The most active users (by trait, then at random) get the largest draws; the draws are
    scaled to a ``mean`` visit probability per step, within [0.01, 1].
    """
    draws = np.sort(rng.pareto(alpha, len(profiles)) + 1.0)[::-1]
    rank = {Level.HIGH: 0, Level.MEDIUM: 1, Level.LOW: 2}
    tiebreak = rng.random(len(profiles))
    order = sorted(
        range(len(profiles)), key=lambda i: (rank[profiles[i].traits.activity], tiebreak[i])
    )
    activity = np.empty(len(profiles))
    activity[order] = draws
    scaled = activity
    for _ in range(20):  # rescale until clipping at 1 no longer pulls the mean down
        scaled = np.clip(scaled * mean / scaled.mean(), 0.01, 1.0)
    return scaled.tolist()
