"""Traits read off real histories: activity, conformity and diversity by terciles."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from agents.profile import Level, UserProfile
from agents.traits import measured_traits, traits_from_history
from scenarios.profiles import user_profiles
from simulator.dataset import Dataset


def _dataset(rows: list[tuple[str, str, float]], users: list[str], genres: dict) -> Dataset:
    items = pd.DataFrame(
        {
            "item_id": list(genres),
            "title": [f"Title {i}" for i in genres],
            "genres": [tuple(g) for g in genres.values()],
            "description": [""] * len(genres),
        }
    )
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    inter["timestamp"] = np.arange(len(inter), dtype="int64")
    return Dataset("hand", pd.DataFrame({"user_id": users}), items, inter)


GENRES = {
    "a1": ("A",), "a2": ("A",), "a3": ("A",), "a4": ("A",), "b1": ("B",), "c1": ("C",),
    "d1": ("D",), "e1": ("E",), "f1": ("F",), "g1": ("G",),
}  # fmt: skip
RATINGS = [
    # heavy: many ratings, all in genre A, all at the items' means.
    *[("heavy", i, 3.0) for i in ("a1", "a2", "a3", "a4", "a1", "a2", "a3", "a4")],
    # conformist: rates exactly at the item means (a1 and a2 average 3).
    ("conformist", "a1", 3.0), ("conformist", "a2", 3.0),
    # contrarian and anti: two stars from every mean, in opposite directions.
    ("contrarian", "a1", 5.0), ("contrarian", "a2", 5.0),
    ("anti", "a1", 1.0), ("anti", "a2", 1.0),
    # diverse and crowd: one star from the means, one item in each of six / five genres.
    *[("diverse", i, 4.0) for i in ("b1", "c1", "d1", "e1", "f1", "g1")],
    *[("crowd", i, 2.0) for i in ("b1", "c1", "d1", "e1", "f1", "g1")][:5],
]  # fmt: skip
USERS = ["heavy", "conformist", "contrarian", "anti", "crowd", "diverse", "newcomer"]


@pytest.fixture
def traits() -> pd.DataFrame:
    return traits_from_history(_dataset(RATINGS, USERS, GENRES)).set_index("user_id")


def test_one_row_per_user_with_levels_and_raw_values(traits):
    assert list(traits.index) == USERS
    for column in ("activity", "conformity", "diversity"):
        assert set(traits[column]) <= {"low", "medium", "high"}
    assert traits.loc["heavy", "n_ratings"] == 8
    assert traits.loc["newcomer", "n_ratings"] == 0


def test_many_ratings_is_high_activity(traits):
    assert traits.loc["heavy", "activity"] == "high"
    assert traits.loc["newcomer", "activity"] == "low"


def test_rating_like_the_item_means_is_high_conformity(traits):
    assert traits.loc["conformist", "conformity"] == "high"
    assert traits.loc["conformist", "conformity_score"] == pytest.approx(0.0)
    assert traits.loc["contrarian", "conformity"] == "low"
    assert traits.loc["crowd", "conformity"] == "medium"
    assert (
        traits.loc["conformist", "conformity_score"] < traits.loc["contrarian", "conformity_score"]
    )


def test_spread_over_many_genres_is_high_diversity(traits):
    assert traits.loc["diverse", "diversity"] == "high"
    assert traits.loc["heavy", "diversity"] != "high"
    # Six equal genres: 80% needs 4.8 of them; one genre needs 0.8.
    assert traits.loc["diverse", "diversity_score"] == pytest.approx(4.8)
    assert traits.loc["heavy", "diversity_score"] == pytest.approx(0.8)


def test_users_without_history_are_medium_conformity_and_diversity(traits):
    assert traits.loc["newcomer", "conformity"] == "medium"
    assert traits.loc["newcomer", "diversity"] == "medium"
    assert np.isnan(traits.loc["newcomer", "conformity_score"])


def test_implicit_feedback_gives_medium_conformity():
    rows = [(u, i, np.nan) for u, i, _ in RATINGS]
    traits = traits_from_history(_dataset(rows, USERS, GENRES)).set_index("user_id")
    assert set(traits["conformity"]) == {"medium"}
    assert traits["conformity_score"].isna().all()
    assert traits.loc["heavy", "activity"] == "high"
    assert traits.loc["diverse", "diversity"] == "high"


def test_items_without_genres_leave_diversity_medium():
    genres = {i: () for i in GENRES}
    traits = traits_from_history(_dataset(RATINGS, USERS, genres))
    assert set(traits["diversity"]) == {"medium"}


def test_personas_show_only_what_the_history_tells():
    """Implicit feedback has no conformity and the newcomer has no history: neither is
    presented as "medium"; the newcomer's traits are drawn from the scenario's shares."""
    rows = [(u, i, np.nan) for u, i, _ in RATINGS]
    data = _dataset(rows, USERS, GENRES)
    measured = measured_traits(data)
    assert set(measured["heavy"].known()) == {"activity", "diversity"}
    assert measured["newcomer"].known() == {}
    all_high = {name: (0.0, 0.0, 1.0) for name in ("activity", "conformity", "diversity")}
    profiles = {
        p.user_id: p for p in user_profiles(data.users, data, np.random.default_rng(0), all_high)
    }
    heavy = profiles["heavy"].describe()
    assert "You use the platform a lot." in heavy and "most people's" not in heavy
    assert profiles["newcomer"].traits.known() == dict.fromkeys(all_high, Level.HIGH)
    assert "most people's" in profiles["newcomer"].describe()
    assert "most people's" not in UserProfile(user_id="x").describe()


@pytest.mark.data
def test_movielens_100k_terciles(shared_data):
    from scenarios.datasets import load_movielens_100k

    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found; set RECWORLD_DATA")
    dataset = load_movielens_100k(folder)
    start = time.perf_counter()
    traits = traits_from_history(dataset)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert len(traits) == 943
    for column in ("activity", "conformity", "diversity"):
        shares = traits[column].value_counts(normalize=True)
        assert set(shares.index) == {"low", "medium", "high"}
        assert shares.between(0.28, 0.39).all(), (column, shares.to_dict())
    # Heavy raters are high activity, light ones low.
    by_level = traits.groupby("activity")["n_ratings"].median()
    assert by_level["low"] < by_level["medium"] < by_level["high"]
