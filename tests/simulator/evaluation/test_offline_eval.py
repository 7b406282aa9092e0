import numpy as np
import pandas as pd
import pytest

from scenarios.datasets import generate_synthetic
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.evaluation.metrics import RANKING_METRICS, ranking_metrics
from simulator.evaluation.offline import SET_METRICS, USER_METRICS, evaluate
from simulator.evaluation.splits import leave_last_out
from simulator.recommenders import make_recommender
from simulator.stats import mean_ci


@pytest.fixture(scope="module")
def data():
    return generate_synthetic(n_users=120, n_items=150, history_per_user=15, seed=11)


@pytest.fixture(scope="module")
def result(data):
    recs = {"random": "random", "popular": "most-popular", "knn": {"name": "item-knn"}}
    return evaluate(data, recs, k=10, seed=0)


class Oracle:
    """Recommends exactly the held-out items, padded with unseen filler."""

    name = "oracle"

    def __init__(self, test):
        self.test = test

    def fit(self, dataset):
        self.items = dataset.item_ids

    def recommend(self, user_ids, k, *, exclude_seen=True, candidates=None):
        out = {}
        for user in user_ids:
            target = sorted(self.test[user])
            out[user] = (target + [i for i in self.items if i not in self.test[user]])[:k]
        return out

    def update(self, interactions):
        pass


def test_frames_have_one_row_per_user_and_metric(result, data):
    split = leave_last_out(data)
    users = sorted(split.test)
    assert result.split["scored_users"] == len(users) == result.split["test_users"]
    per_user = result.per_user
    assert len(per_user) == 3 * len(users)
    assert list(per_user["recommender"].unique()) == ["random", "popular", "knn"]
    for _, frame in per_user.groupby("recommender"):
        assert frame["user_id"].tolist() == users
    assert set(USER_METRICS) <= set(per_user.columns)
    summary = result.summary
    assert len(summary) == 3 * (len(USER_METRICS) + len(SET_METRICS))
    assert set(summary.loc[summary["scope"] == "set", "metric"]) == set(SET_METRICS)
    assert summary.loc[summary["scope"] == "set", "ci_low"].isna().all()
    assert list(result.table().columns) == [*USER_METRICS, *SET_METRICS]


def test_summary_is_mean_ci_of_the_per_user_rows(result):
    for (rec, metric), row in result.summary.set_index(["recommender", "metric"]).iterrows():
        if metric in SET_METRICS:
            continue
        est = mean_ci(result.per_user.loc[result.per_user["recommender"] == rec, metric])
        assert row["mean"] == pytest.approx(est.mean)
        assert row["ci_low"] == pytest.approx(est.low, nan_ok=True)
        assert row["n"] == est.n


def test_per_user_metrics_match_a_direct_computation(result, data):
    split = leave_last_out(data)
    users = sorted(split.test)
    rec = make_recommender("item-knn", seed=0)
    rec.fit(split.train)
    lists = rec.recommend(users, 10)
    expected = ranking_metrics([lists[u] for u in users], [split.test[u] for u in users], 10)
    got = result.per_user[result.per_user["recommender"] == "knn"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(RANKING_METRICS)], expected)


def test_same_seed_same_numbers(data, result):
    again = evaluate(data, {"random": "random", "popular": "most-popular", "knn": "item-knn"})
    pd.testing.assert_frame_equal(again.per_user, result.per_user)
    timing = ["fit_s", "recommend_s"]
    pd.testing.assert_frame_equal(
        again.summary.drop(columns=timing), result.summary.drop(columns=timing)
    )


def test_popularity_shows_in_beyond_accuracy_metrics(result):
    table = result.table()
    popular, rand = table.loc["popular"], table.loc["random"]
    assert popular["coverage"] < rand["coverage"]
    assert popular["gini"] > rand["gini"]
    assert popular["popularity_lift"] > 0 > rand["popularity_lift"]
    assert popular["arp"] > rand["arp"]
    assert popular["novelty"] < rand["novelty"]
    assert table.loc["knn", "ndcg"] > rand["ndcg"]


def test_oracle_scores_perfectly_on_a_given_split(data):
    split = leave_last_out(data)
    result = evaluate(data, {"oracle": Oracle(split.test)}, split=split, k=5)
    means = result.table().loc["oracle"]
    for metric in ("hit_rate", "recall", "ndcg", "mrr", "map"):
        assert means[metric] == pytest.approx(1.0), metric
    assert means["precision"] == pytest.approx(1 / 5)


def test_temporal_and_random_splits_run(data):
    for name in ("temporal", "random"):
        result = evaluate(data, {"popular": "most-popular"}, split=name, k=5)
        assert result.split["split"] == name
        assert result.per_user["ndcg"].between(0, 1).all()


def test_user_sample_is_seeded(data):
    first = evaluate(data, {"p": "most-popular"}, users=30, seed=4)
    again = evaluate(data, {"p": "most-popular"}, users=30, seed=4)
    other = evaluate(data, {"p": "most-popular"}, users=30, seed=5)
    assert len(first.per_user) == 30 == first.split["scored_users"]
    assert first.per_user["user_id"].tolist() == again.per_user["user_id"].tolist()
    assert first.per_user["user_id"].tolist() != other.per_user["user_id"].tolist()
    chosen = first.per_user["user_id"].tolist()[:3]
    picked = evaluate(data, {"p": "most-popular"}, users=chosen)
    assert picked.per_user["user_id"].tolist() == chosen


def test_embeddings_switch_diversity_to_cosine(data, result):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(data.items), 8))
    cosine = evaluate(data, {"popular": "most-popular"}, item_embeddings=emb)
    genre = result.per_user.loc[result.per_user["recommender"] == "popular", "diversity"]
    assert not np.allclose(cosine.per_user["diversity"], genre.to_numpy())
    assert cosine.per_user["diversity"].between(0, 2).all()
    with pytest.raises(RecworldError, match="one row per item"):
        evaluate(data, {"popular": "most-popular"}, item_embeddings=emb[:5])


def test_no_genres_means_no_diversity(data):
    items = data.items.assign(genres=[()] * len(data.items))
    bare = Dataset(data.name, data.users, items, data.interactions)
    result = evaluate(bare, {"popular": "most-popular"}, users=10)
    assert result.per_user["diversity"].isna().all()
    assert np.isnan(result.table().loc["popular", "diversity"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recommenders": {"x": "magic"}}, r"unknown recommender 'magic'.*most-popular"),
        ({"recommenders": {}}, "no recommender"),
        ({"k": 0}, "at least 1"),
        ({"split": "kfold"}, r"unknown split 'kfold'.*temporal"),
        ({"users": 0}, "at least 1 user"),
        ({"users": ["nobody"]}, "nothing held out"),
        ({"relevant_rating": 9}, "left no user"),
        ({"recommenders": {"x": object()}}, "not a recommender"),
    ],
)
def test_bad_input_raises_recworld_error(data, kwargs, message):
    args = {"recommenders": {"p": "most-popular"}, **kwargs}
    with pytest.raises(RecworldError, match=message):
        evaluate(data, **args)


@pytest.mark.data
def test_ml100k_learned_beat_popularity_beats_random(shared_data):
    from scenarios.datasets import load_movielens_100k

    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip("ml-100k not in the shared data folder")
    recs = {name: name for name in ("random", "most-popular", "item-knn", "als")}
    result = evaluate(load_movielens_100k(folder), recs, users=400, seed=0)
    ndcg = result.table()["ndcg"]
    assert max(ndcg["item-knn"], ndcg["als"]) > ndcg["most-popular"] > ndcg["random"], ndcg
    assert result.split["scored_users"] == 400


def test_a_list_of_names_is_the_same_as_a_mapping():
    from scenarios.datasets import generate_synthetic
    from simulator.evaluation.offline import evaluate

    data = generate_synthetic(n_users=40, n_items=60, history_per_user=10, seed=2)
    by_list = evaluate(data, ["most-popular", "item-knn"], seed=0)
    by_map = evaluate(data, {"most-popular": "most-popular", "item-knn": "item-knn"}, seed=0)
    pd.testing.assert_frame_equal(by_list.per_user, by_map.per_user)
