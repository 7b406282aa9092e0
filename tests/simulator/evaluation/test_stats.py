import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse
from scipy import stats as sst

from simulator.stats import draw_unseen, entropy_bits, gini, mean_ci


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    est = mean_ci(x)
    low, high = sst.t.interval(0.95, 4, loc=x.mean(), scale=sst.sem(x))
    assert est.n == 5
    assert np.isclose(est.mean, x.mean())
    assert np.isclose(est.low, low) and np.isclose(est.high, high)


def test_mean_ci_drops_nan_and_handles_tiny_samples():
    assert mean_ci([1.0, float("nan"), 3.0]).n == 2
    single = mean_ci([2.0])
    assert single.mean == 2.0 and np.isnan(single.low)
    assert mean_ci([]).n == 0
    const = mean_ci([1.0, 1.0, 1.0])
    assert const.low == const.high == 1.0


def test_gini_hand_cases():
    assert gini([5, 5, 5, 5]) == 0.0
    assert np.isclose(gini([0, 0, 0, 10]), 0.75)  # (n-1)/n for one holder
    assert np.isclose(gini([1, 2, 3]), 2 / 9)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=50))
def test_gini_bounded_and_permutation_invariant(counts):
    g = gini(counts)
    assert 0.0 <= g < 1.0
    assert np.isclose(g, gini(list(reversed(counts))))


@given(st.lists(st.integers(1, 100), min_size=1, max_size=30))
def test_entropy_bounded_by_log_support(counts):
    h = entropy_bits(counts)
    assert -1e-12 <= h <= np.log2(len(counts)) + 1e-9


def test_entropy_uniform():
    assert np.isclose(entropy_bits([3, 3, 3, 3]), 2.0)
    assert entropy_bits([0, 0]) == 0.0


def test_draw_unseen_is_a_seeded_weighted_draw_of_unseen_columns():
    weights = np.array([1.0, 1.0, 8.0, 1.0, 4.0, 1.0])
    seen = sparse.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 1]], bool))
    rows = np.repeat([0, 1], 2000)
    drawn = draw_unseen(weights, seen, rows, 3, np.random.default_rng(0))
    again = draw_unseen(weights, seen, rows, 3, np.random.default_rng(0))
    assert (drawn == again).all()
    assert all(len(set(row)) == 3 for row in drawn)
    assert not (drawn[rows == 0] == 0).any()
    assert not np.isin(drawn[rows == 1], [2, 5]).any()
    # Most likely first: the heaviest unseen column leads most draws.
    assert np.mean(drawn[rows == 0, 0] == 2) == pytest.approx(8 / 15, abs=0.04)
    assert np.mean(drawn[rows == 1, 0] == 4) == pytest.approx(4 / 7, abs=0.04)
