import numpy as np
import pandas as pd
import pytest

from scenarios.datasets import generate_synthetic
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.evaluation.splits import (
    SPLITS,
    leave_last_out,
    make_split,
    random_split,
    temporal_split,
)


def tiny(rows, ratings=None):
    """A dataset from (user, item, timestamp) rows."""
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    inter["rating"] = ratings if ratings is not None else np.nan
    users = pd.DataFrame({"user_id": sorted(set(inter["user_id"]))})
    ids = sorted(set(inter["item_id"]) | {"spare"})
    items = pd.DataFrame(
        {"item_id": ids, "title": ids, "genres": [()] * len(ids), "description": ""}
    )
    return Dataset("tiny", users, items, inter)


ROWS = [
    ("u1", "a", 10),
    ("u1", "b", 30),
    ("u1", "c", 20),
    ("u2", "a", 5),
    ("u2", "d", 40),
    ("u3", "b", 50),  # one interaction: never tested by leave-last-out
    ("u4", "c", 60),  # u3 and u4 appear only late: cold starts in the temporal split
    ("u4", "d", 70),
]


@pytest.fixture(scope="module")
def synthetic():
    return generate_synthetic(n_users=80, n_items=120, history_per_user=12, seed=5)


def pairs(frame):
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def assert_no_leakage(data, split):
    train = pairs(split.train.interactions)
    held = {(u, i) for u, items in split.test.items() for i in items}
    assert not train & held
    assert held <= pairs(data.interactions)
    assert len(split.train.interactions) == split.meta["train_interactions"]
    assert split.meta["train_interactions"] + split.meta["test_interactions"] == len(
        data.interactions
    )
    assert all(split.test.values()), "every test user has something relevant"
    assert set(split.test) <= set(split.train.interactions["user_id"])
    assert split.train.items is data.items and split.train.users is data.users


def test_leave_last_out_holds_each_users_latest():
    data = tiny(ROWS)
    split = leave_last_out(data)
    assert split.test == {"u1": {"b"}, "u2": {"d"}, "u4": {"d"}}
    assert split.meta["test_users"] == 3 and split.meta["test_interactions"] == 3
    assert_no_leakage(data, split)


def test_leave_last_out_breaks_timestamp_ties_by_log_order():
    data = tiny([("u", "x", 5), ("u", "y", 5), ("u", "z", 1)])
    assert leave_last_out(data).test == {"u": {"y"}}


def test_leave_last_out_on_synthetic(synthetic):
    split = leave_last_out(synthetic)
    assert_no_leakage(synthetic, split)
    inter = synthetic.interactions
    latest = inter.groupby("user_id")["timestamp"].max()
    for user, items in split.test.items():
        assert len(items) == 1
        held = inter[(inter["user_id"] == user) & inter["item_id"].isin(items)]
        assert held["timestamp"].max() == latest[user]


def test_temporal_respects_the_cutoff():
    data = tiny(ROWS)
    split = temporal_split(data, test_share=0.45)  # cutoff 38.5: the last four rows
    cutoff = split.meta["cutoff"]
    assert (split.train.interactions["timestamp"] < cutoff).all()
    held = data.interactions[data.interactions["timestamp"] >= cutoff]
    assert len(held) == split.meta["test_interactions"] > 0
    assert split.meta["cutoff"] == pytest.approx(38.5)
    assert split.test == {"u2": {"d"}}
    assert split.meta["cold_users"] == 2  # u3, u4: no history before the cutoff
    assert_no_leakage(data, split)


def test_temporal_on_synthetic_counts_cold_users(synthetic):
    split = temporal_split(synthetic)
    inter = synthetic.interactions
    cutoff = split.meta["cutoff"]
    assert (split.train.interactions["timestamp"] < cutoff).all()
    share = split.meta["test_interactions"] / len(inter)
    assert 0.15 <= share <= 0.25
    before = set(inter.loc[inter["timestamp"] < cutoff, "user_id"])
    after = set(inter.loc[inter["timestamp"] >= cutoff, "user_id"])
    assert split.meta["cold_users"] == len(after - before)
    assert_no_leakage(synthetic, split)


def test_random_is_seeded_and_keeps_a_training_interaction(synthetic):
    first = random_split(synthetic, seed=3)
    again = random_split(synthetic, seed=3)
    other = random_split(synthetic, seed=4)
    assert first.test == again.test
    assert first.train.interactions.equals(again.train.interactions)
    assert first.test != other.test
    share = first.meta["test_interactions"] / len(synthetic.interactions)
    assert 0.15 <= share <= 0.25
    assert set(first.train.interactions["user_id"]) == set(synthetic.interactions["user_id"])
    assert_no_leakage(synthetic, first)


def test_random_never_holds_out_a_users_only_history():
    data = tiny([("solo", "a", 1), ("pair", "a", 1), ("pair", "b", 2)])
    for seed in range(20):
        split = random_split(data, test_share=0.99, seed=seed)
        assert "solo" not in split.test
        assert set(split.train.interactions["user_id"]) == {"solo", "pair"}


def test_relevance_threshold_keeps_well_rated_held_out_items():
    data = tiny(ROWS, ratings=[5, 2, 4, 3, 5, 4, 5, 1])
    split = leave_last_out(data, relevant_rating=4)
    # u1's latest (b) is rated 2 and u4's (d) 1: held out, but nothing relevant to score.
    assert split.test == {"u2": {"d"}}
    assert split.meta["no_relevant_users"] == 2
    assert "b" not in set(split.train.interactions.query("user_id == 'u1'")["item_id"])


def test_relevance_threshold_needs_ratings():
    with pytest.raises(RecworldError, match="no ratings"):
        leave_last_out(tiny(ROWS), relevant_rating=4)


def test_reconsumed_items_are_not_test_targets():
    data = tiny([("u", "a", 1), ("u", "b", 2), ("u", "a", 3)])
    split = leave_last_out(data)
    assert split.test == {}
    assert split.meta["no_relevant_users"] == 1


def test_make_split_dispatches_and_rejects_unknown(synthetic):
    for name in SPLITS:
        assert make_split(synthetic, name).meta["split"] == name
    with pytest.raises(RecworldError, match=r"'kfold'.*leave-last-out, temporal, random"):
        make_split(synthetic, "kfold")
    with pytest.raises(RecworldError, match="between 0 and 1"):
        temporal_split(synthetic, test_share=1.5)
