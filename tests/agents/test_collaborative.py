"""The taste core's collaborative families: item-kNN and ALS against direct computations,
and every family through the taste core's fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from agents import collaborative
from agents.utility import UtilityModel, UtilityParams
from scenarios.datasets import generate_synthetic


def _history(seed: int = 0, users: int = 15, items: int = 8) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    return sparse.csr_matrix((rng.random((users, items)) < 0.4).astype(np.float64))


def _every_score(model: collaborative.Collaborative, n_users: int, n_items: int) -> np.ndarray:
    return model.scores(np.arange(n_users), np.tile(np.arange(n_items), (n_users, 1)))


def test_item_knn_keeps_each_items_k_most_similar_history_items():
    x = _history()
    model = collaborative.item_knn(x, 3)
    dense = x.toarray()
    gram = dense.T @ dense
    norms = np.sqrt(np.diag(gram))
    sim = gram / np.outer(np.where(norms > 0, norms, 1), np.where(norms > 0, norms, 1))
    np.fill_diagonal(sim, 0.0)
    expected = np.zeros_like(sim)
    for c in range(sim.shape[1]):  # target item c keeps its three nearest items
        nearest = np.argsort(-sim[:, c], kind="stable")[:3]
        expected[nearest, c] = sim[nearest, c]
    kept = model.w > 0
    assert (kept.sum(axis=0) <= 3).all()
    # Ties at the cut may keep either item; every kept weight is a true neighbour's weight.
    np.testing.assert_allclose(model.w[kept], sim[kept], atol=1e-6)
    np.testing.assert_allclose(np.sort(model.w, axis=0)[-3:], np.sort(expected, axis=0)[-3:])
    np.testing.assert_allclose(_every_score(model, 15, 8), dense @ model.w, atol=1e-5)


@pytest.mark.parametrize("family", collaborative.FAMILIES)
def test_each_familys_user_mean_and_spread_are_those_of_its_scores(family):
    x = _history(1)
    model = collaborative.build(family, x, collaborative.default_setting(family, 4.0), seed=3)
    scores = _every_score(model, 15, 8)
    np.testing.assert_allclose(model.user_mean, scores.mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(model.user_scale, scores.std(axis=1), atol=1e-4)


def test_als_is_seeded_and_scores_user_by_item_factors():
    x = _history(2)
    a, b = collaborative.als(x, 0.1, seed=5), collaborative.als(x, 0.1, seed=5)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_allclose(_every_score(a, 15, 8), a.user_factors @ a.item_factors.T)


def test_an_unknown_family_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="ease, item-knn, als"):
        collaborative.build("svd", _history(), 1.0)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def planted():
    return generate_synthetic(n_users=150, n_items=120, history_per_user=20, seed=4)


@pytest.mark.parametrize("family", collaborative.FAMILIES)
def test_every_family_learns_a_taste_core_that_ranks_held_out_choices(planted, family):
    model = UtilityModel.from_dataset(planted, UtilityParams(taste_family=family))
    fit = model.taste_fit
    assert fit.family == family and model.taste.collaborative.family == family
    assert fit.setting in collaborative.candidate_settings(family, _mean_count(planted))
    # Out of fold, against uniform and popularity-matched unseen items alike: taste must
    # add to what popularity alone tells apart on the same pairs.
    assert fit.holdout_auc > fit.popularity_auc + 0.02, fit


def _mean_count(dataset) -> float:
    counts = dataset.interactions.groupby("item_id").size()
    return max(1.0, float(counts.mean()))
