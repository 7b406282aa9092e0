"""The taste core: EASE, content and popularity in one learned preference logit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from agents.preferences import FEATURES, HELD_PER_USER, TasteCore, holdout_liked, time_matrix
from agents.utility import UtilityModel, UtilityParams
from agents.utility.features import _rating_habits
from scenarios.datasets import generate_synthetic


def _matrix(rng: np.random.Generator, users: int = 12, items: int = 9) -> sparse.csr_matrix:
    dense = (rng.random((users, items)) < 0.35).astype(float)
    dense[:, 0] = 1.0  # one item everybody has: a popular one
    return sparse.csr_matrix(dense)


def _unit_rows(rng: np.random.Generator, n: int, d: int = 6) -> np.ndarray:
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ease_and_its_per_user_standardisation_match_a_direct_computation():
    rng = np.random.default_rng(0)
    x = _matrix(rng)
    core = TasteCore(x, _unit_rows(rng, 9), np.linspace(0, 1, 9), setting=3.0)
    dense = x.toarray()
    covered = np.argsort(-dense.sum(axis=0), kind="stable")
    p = np.linalg.inv(dense[:, covered].T @ dense[:, covered] + 3.0 * np.eye(9))
    b = np.eye(9) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(core.collaborative.w, b, atol=1e-5)
    scores = dense[:, covered] @ b  # every user × every covered item
    z = (scores - scores.mean(axis=1, keepdims=True)) / scores.std(axis=1, keepdims=True)
    users = np.arange(12)
    items = np.tile(np.arange(9), (12, 1))
    ease = core.signals(users, items)[0]
    np.testing.assert_allclose(ease, z[:, np.argsort(covered)], atol=1e-4)


def test_content_is_the_standardised_cosine_to_the_history_centroid():
    rng = np.random.default_rng(1)
    x = _matrix(rng)
    vectors = _unit_rows(rng, 9)
    core = TasteCore(x, vectors, np.zeros(9), setting=1.0)
    centroid = x.toarray() @ vectors
    centroid /= np.linalg.norm(centroid, axis=1, keepdims=True)
    cos = centroid @ vectors.T
    # The spread of cos over the catalogue, as the mean and covariance of the items give it.
    z = (cos - cos.mean(axis=1, keepdims=True)) / cos.std(axis=1, keepdims=True)
    content = core.signals(np.arange(12), np.tile(np.arange(9), (12, 1)))[1]
    np.testing.assert_allclose(content, z, atol=1e-5)


def test_new_items_are_unscored_unflagged_and_new_users_use_the_fallback():
    rng = np.random.default_rng(2)
    x = _matrix(rng)
    seen = []

    def fallback(users, items):
        seen.append(users.copy())
        return np.full(np.shape(items), 7.0)

    core = TasteCore(x, _unit_rows(rng, 9), np.full(9, 0.5), setting=1.0, fallback=fallback)
    core.add_items(_unit_rows(rng, 1))
    ease, content, popularity, uncovered, near, quality, gap, time_gap, arrival = core.signals(
        np.array([0, 12]), np.array([[9, 1], [9, 1]])
    )
    # Nobody has chosen the new item: its collaborative score is unknown, and it is not
    # flagged (a flag on never-seen items would read "never chosen" as relevance).
    assert (uncovered == 0).all()
    assert ease[:, 0].tolist() == [0.0, 0.0] and popularity[:, 0].tolist() == [0.0, 0.0]
    assert content[1].tolist() == [7.0, 7.0] and seen[0].tolist() == [12]
    assert near[:, 0].tolist() == [0.0, 0.0] and near[1].tolist() == [0.0, 0.0]  # no history
    assert (quality == 0).all(), "no ratings, no quality"
    # User 0's usual popularity is 0.5, the new item's 0; user 12 has no history.
    assert gap[0].tolist() == [0.5, 0.0] and gap[1].tolist() == [0.0, 0.0]
    assert (time_gap == 0).all() and (arrival == 0).all(), "no clock, no time gaps"
    weights = np.asarray(core.weights)
    logit = core.logit(np.array([12]), np.array([[1]]))
    depth = -core._depth_centre  # a user without history
    signals = np.array([0.0, 7.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    features = np.concatenate([signals, signals[:3] * depth, [0.25, depth]])
    assert logit[0, 0] == pytest.approx(weights[0] + weights[1:] @ features)


def test_only_items_chosen_but_past_the_cap_are_flagged_uncovered():
    rng = np.random.default_rng(4)
    dense = (rng.random((12, 9)) < 0.35).astype(float)
    dense[:, 0] = 1.0
    dense[:, 8] = 0.0  # in the catalogue, chosen by nobody
    counts = dense.sum(axis=0)
    covered = np.argsort(-counts, kind="stable")[:4]
    core = TasteCore(
        sparse.csr_matrix(dense), _unit_rows(rng, 9), np.full(9, 0.5), setting=1.0, max_items=4
    )
    ease, _, _, uncovered, *_ = core.signals(np.arange(12), np.tile(np.arange(9), (12, 1)))
    expected = np.array([(j not in covered) and counts[j] > 0 for j in range(9)], float)
    assert expected.sum() >= 3, "the fixture must put chosen items past the cap"
    np.testing.assert_array_equal(uncovered, np.tile(expected, (12, 1)))
    # Past the cap or chosen by nobody, the collaborative score is unknown: 0.
    assert (ease[:, ~np.isin(np.arange(9), covered)] == 0).all()
    assert (ease[:, covered] != 0).any()


def test_quality_and_popularity_gap_match_their_definitions():
    rng = np.random.default_rng(5)
    x = _matrix(rng)
    popularity = np.linspace(0.1, 0.9, 9)
    rows, cols = x.nonzero()
    values = rng.integers(1, 6, size=len(rows)).astype(float)
    ratings = sparse.csr_matrix((values, (rows, cols)), shape=x.shape)
    core = TasteCore(x, _unit_rows(rng, 9), popularity, setting=1.0, ratings=ratings)
    users = np.arange(12)
    items = np.tile(np.arange(9), (12, 1))
    *_, quality, gap, _, _ = core.signals(users, items)
    mean, sd = values.mean(), values.std()
    for item in range(9):
        rated = values[cols == item]
        shrunk = (rated.sum() + 5 * mean) / (len(rated) + 5)
        assert quality[0, item] == pytest.approx((shrunk - mean) / sd)
    dense = x.toarray()
    usual = dense @ popularity / dense.sum(axis=1)
    np.testing.assert_allclose(gap, np.abs(popularity[None, :] - usual[:, None]))


def test_time_gap_is_the_distance_between_item_and_user_mean_times():
    # Timestamps 0..: user u's interactions with items i at time 10·u + i (days, say).
    users = np.array([0, 0, 1, 1, 2, 2, 2])
    items = np.array([0, 1, 1, 2, 0, 2, 2])  # user 2 repeats item 2: the last time counts
    stamps = np.array([0.0, 1.0, 11.0, 12.0, 20.0, 22.0, 26.0])
    times = time_matrix(users, items, stamps, (4, 3))
    # Kept stamps 0, 1, 11, 12, 20, 26 (user 2's repeat replaced): std over all seven.
    sd = stamps.std()
    kept = {(0, 0): 0.0, (0, 1): 1.0, (1, 1): 11.0, (1, 2): 12.0, (2, 0): 20.0, (2, 2): 26.0}
    item_mean = [np.mean([t for (_, i), t in kept.items() if i == j]) for j in range(3)]
    user_mean = [np.mean([t for (u, _), t in kept.items() if u == v]) for v in range(3)]
    history = sparse.csr_matrix((np.ones(6), tuple(zip(*kept, strict=True))), shape=(4, 3))
    rng = np.random.default_rng(0)
    core = TasteCore(history, _unit_rows(rng, 3), np.full(3, 0.5), setting=1.0, times=times)
    *_, time_gap, arrival = core.signals(np.arange(4), np.tile(np.arange(3), (4, 1)))
    expected = np.abs(np.subtract.outer(user_mean, item_mean)) / sd
    np.testing.assert_allclose(time_gap[:3], expected)
    assert (time_gap[3] == 0).all(), "a user without history has no time of their own"
    # Arrival gap: how long after the user's last interaction the item's first came.
    item_first = [min(t for (_, i), t in kept.items() if i == j) for j in range(3)]
    user_last = [max(t for (u, _), t in kept.items() if u == v) for v in range(3)]
    late = np.maximum(np.subtract.outer(item_first, user_last).T, 0.0) / sd
    np.testing.assert_allclose(arrival[:3], late)
    assert late[0].tolist()[2] > 0 and (late[2] == 0).all(), "the example has both cases"
    assert (arrival[3] == 0).all(), "a user without history has no last interaction"
    assert time_matrix(users, items, np.zeros(7), (4, 3)) is None, "no spread, no clock"


@pytest.fixture(scope="module")
def planted():
    """Synthetic users whose choices follow a planted genre taste."""
    return generate_synthetic(n_users=150, n_items=120, history_per_user=20, seed=4)


def test_fit_learns_weights_that_rank_held_out_choices_first(planted):
    model = UtilityModel.from_dataset(planted)
    fit = model.taste_fit
    assert len(fit.weights) == 1 + len(FEATURES)
    assert fit.holdout_users >= 150, "20 interactions each: up to three held out per user"
    assert fit.holdout_auc > fit.popularity_auc + 0.02, fit
    again = UtilityModel.from_dataset(planted).taste_fit
    assert again == fit, "the fit is seeded: the same data give the same weights"


def test_holdout_takes_a_fifth_of_each_users_history_from_their_liked_items():
    inter = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "z", "x", "x", "y"],
            "timestamp": np.arange(6),
            "rating": [5.0, 1.0, 4.0, 5.0, 2.0, 2.0],
        }
    )
    users, items = holdout_liked(
        inter, {"a": 0, "b": 1, "c": 2}, {"x": 0, "y": 1, "z": 2}, np.random.default_rng(0)
    )
    assert sorted(users.tolist()) == [0, 2]  # b has one rating only; a and c one each
    picked = dict(zip(users.tolist(), items.tolist(), strict=True))
    assert picked[0] in (0, 2), "a's liked items are x and z (at or above a's median, 4)"


def test_holdout_takes_at_most_the_cap_from_long_histories():
    n = 40  # a fifth is 8, more than the cap
    inter = pd.DataFrame(
        {
            "user_id": ["a"] * n + ["b"] * 10,
            "item_id": [f"i{k}" for k in range(n)] + [f"i{k}" for k in range(10)],
            "timestamp": np.arange(n + 10),
            "rating": np.r_[np.full(n, 4.0), np.full(10, 3.0)],
        }
    )
    index = {f"i{k}": k for k in range(n)}
    users, items = holdout_liked(inter, {"a": 0, "b": 1}, index, np.random.default_rng(1))
    assert (users == 0).sum() == HELD_PER_USER and (users == 1).sum() == 2
    assert len(set(zip(users.tolist(), items.tolist(), strict=True))) == len(users)


def test_rating_habits_match_their_definition():
    users = np.array([0, 0, 0, 1, 1, -1])
    ratings = np.array([5.0, 4.0, 5.0, 1.0, 2.0, 3.0])
    bias, spread = _rating_habits(users, ratings, 3)
    r = ratings[:5]
    mean, var = r.mean(), r.var()
    own = [np.array([5.0, 4.0, 5.0]), np.array([1.0, 2.0])]
    for u, values in enumerate(own):
        n = len(values)
        assert bias[u] == pytest.approx((values - mean).sum() / (n + 5))
        within = ((values - values.mean()) ** 2).sum()
        assert spread[u] == pytest.approx(np.sqrt((within + 5 * var) / (n + 5) / var))
    assert (bias[2], spread[2]) == (0.0, 1.0)  # no ratings: everyone's habits


def test_generous_raters_rate_higher_than_harsh_ones_of_the_same_taste(planted):
    model = UtilityModel.from_dataset(planted, UtilityParams())
    users = np.arange(len(model.user_bias))
    generous, harsh = users[np.argmax(model.user_bias)], users[np.argmin(model.user_bias)]
    items = np.arange(10)
    preference = np.zeros(10)
    levels = np.arange(1, 6)
    means = [
        model.rating_distribution(np.full(10, u), preference, items, np.ones(10)) @ levels
        for u in (generous, harsh)
    ]
    assert (means[0] > means[1]).all()


def test_one_item_alone_is_a_yes_at_even_odds_and_larger_pages_cost_more():
    params = UtilityParams(no_click=0.5, page_size_cost=0.8)
    model = UtilityModel.from_dataset(generate_synthetic(n_users=30, n_items=40, seed=1), params)
    assert model.outside_option(1) == pytest.approx(0.5)
    assert model.outside_option(np.array([4, 10])) == pytest.approx(0.5 + 0.8 * np.log([4, 10]))


@pytest.mark.data
def test_the_utility_policy_tells_liked_films_apart_as_well_as_item_knn(shared_data):
    """On MovieLens-100K the taste core discriminates liked from unseen films about as
    well as item-kNN (the suite's strongest floor) and ranks them better; popularity alone
    falls to chance on popularity-matched negatives, the taste core does not."""
    from scenarios.datasets import load_dataset
    from simulator.fidelity import run_fidelity
    from simulator.fidelity.cases import CaseConfig
    from simulator.fidelity.floors import RecommenderFloor
    from simulator.fidelity.subjects import UtilitySubject

    report = run_fidelity(
        load_dataset("movielens-100k", shared_data / "ml-100k"),
        [UtilitySubject(), RecommenderFloor("item-knn", seed=0)],
        CaseConfig(users=100, multiples=(1, 3)),
        behaviour=False,
    )
    auc = report.discrimination.set_index(["subject", "negatives", "m"])["auc"]
    for negatives, floor in (("uniform", 0.9), ("popularity", 0.74)):
        for m in (1, 3):
            ours, knn = auc["utility", negatives, m], auc["item-knn", negatives, m]
            assert ours > floor and ours > knn - 0.02, (negatives, m, ours, knn)
    ndcg = report.ranking.set_index(["subject", "negatives"])["ndcg@10"]
    assert ndcg["utility", "popularity"] > ndcg["item-knn", "popularity"]


def test_level_habits_are_given_over_expected_counts_shrunk_towards_one(planted):
    model = UtilityModel.from_dataset(planted, UtilityParams())
    users, items, ratings = model.rated
    user = int(users[0])
    mine = users == user
    probs = model._ordered_logit(
        users[mine],
        model.preference_left_out(users[mine], items[mine]),
        items[mine],
        np.ones(int(mine.sum())),
    )
    expected = probs.sum(axis=0)
    given = np.bincount(np.rint(ratings[mine]).astype(int) - 1, minlength=5)
    share = np.maximum(expected / mine.sum(), 1e-3)
    want = (given + 10 * share) / (expected + 10 * share)
    np.testing.assert_allclose(model.level_habits(np.array([user]))[0], want, rtol=1e-6)
    unknown = model.level_habits(np.array([len(model.user_bias) + 3]))
    assert (unknown == 1).all(), "a user without ratings keeps the ordered logit's shape"


def test_a_user_who_gives_only_the_ends_of_the_scale_rates_at_the_ends():
    """Two users with the same mean rating: one rates 1 or 5, the other 3."""
    items = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(40)],
            "title": [f"Film {k}" for k in range(40)],
            "genres": [("Drama",)] * 40,
            "description": [""] * 40,
        }
    )
    ends = np.tile([1.0, 5.0], 10)
    inter = pd.DataFrame(
        {
            "user_id": ["ends"] * 20 + ["middle"] * 20,
            "item_id": [f"i{k}" for k in range(20)] + [f"i{k}" for k in range(20, 40)],
            "timestamp": np.arange(40),
            "rating": np.r_[ends, np.full(20, 3.0)],
        }
    )
    from simulator.dataset import Dataset

    data = Dataset("ends", pd.DataFrame({"user_id": ["ends", "middle"]}), items, inter)
    model = UtilityModel.from_dataset(data, UtilityParams())
    rows = np.array([model.user_index["ends"], model.user_index["middle"]])
    probs = model.rating_distribution(rows, np.zeros(2), np.array([0, 0]), np.ones(2))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[0, [0, 4]].sum() > 2 * probs[1, [0, 4]].sum()
    assert probs[1, 2] > 2 * probs[0, 2]


def test_the_fit_never_counts_a_held_out_interaction_in_its_popularity():
    # 40 users see half of 20 shared items each and one item of their own, which is held
    # out; 40 more items nobody touched. A held-out item has no other interaction, so as
    # the fit sees it (and as a user asked about it would) its popularity is 0: never
    # above any unseen item's. Counting the held-out interaction would lift it above the
    # untouched items, and popularity alone would tell them apart.
    rng = np.random.default_rng(7)
    users, shared, own, untouched = 40, 20, 40, 40
    n_items = shared + own + untouched
    dense = np.zeros((users, n_items))
    for u in range(users):
        dense[u, rng.choice(shared, size=10, replace=False)] = 1.0
        dense[u, shared + u] = 1.0
    held = np.zeros_like(dense)
    held[np.arange(users), shared + np.arange(users)] = 1.0
    counts = dense.sum(axis=0)
    popularity = np.log1p(counts) / np.log1p(counts.max())
    _, fit = TasteCore.fit(
        sparse.csr_matrix(dense),
        _unit_rows(rng, n_items),
        popularity,
        holdout=sparse.csr_matrix(held),
    )
    assert fit.holdout_users == users
    assert fit.popularity_auc <= 0.5, fit.popularity_auc


def test_ordinal_timestamps_give_no_time_signals(planted):
    """Each user's 0, 1, 2… (a source without a clock) is no time the users share, so the
    time and arrival gaps stay 0; the same log with a real clock has them."""
    from dataclasses import replace

    clocked = UtilityModel.from_dataset(planted)
    assert np.isfinite(clocked.taste.item_time).any()
    ordinal = replace(planted, meta={**planted.meta, "timestamp": "ordinal"})
    core = UtilityModel.from_dataset(ordinal).taste
    assert np.isnan(core.item_time).all() and np.isnan(core.item_first).all()
    users = np.arange(5)
    *_, time_gap, arrival = core.signals(users, np.tile(np.arange(10), (5, 1)))
    assert not time_gap.any() and not arrival.any()
