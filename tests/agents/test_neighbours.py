"""The user's own verdicts on an item's nearest neighbours, against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from agents.neighbours import SHRINK, RatedNeighbours


def _direct(ratings: np.ndarray, user: int, item: int) -> float:
    """The verdict computed from scratch: dense cosines of the log's columns, every rated
    item of the user but ``item`` itself, shrunk weighted mean of centred ratings."""
    seen = np.isfinite(ratings).astype(float)
    values = ratings[np.isfinite(ratings)]
    spread = values.std() or 1.0
    norms = np.sqrt((seen**2).sum(axis=0))
    mine = np.isfinite(ratings[user])
    if not mine.any():
        return 0.0
    mean = ratings[user, mine].mean()
    top = bottom = 0.0
    for j in np.flatnonzero(mine):
        if j == item or norms[j] == 0 or norms[item] == 0:
            continue
        s = max(seen[:, item] @ seen[:, j] / (norms[item] * norms[j]), 0.0)
        top += s * (ratings[user, j] - mean) / spread
        bottom += s
    return top / (bottom + SHRINK)


def _model(ratings: np.ndarray) -> RatedNeighbours:
    users, items = np.nonzero(np.isfinite(ratings))
    seen = sparse.csr_matrix((np.ones(len(users)), (users, items)), shape=ratings.shape)
    return RatedNeighbours.from_ratings(seen, users, items, ratings[users, items])


R = np.array(
    [
        [5.0, 1.0, 3.0, np.nan, 3.0],
        [4.0, np.nan, 3.0, 4.0, np.nan],
        [1.0, 5.0, np.nan, 2.0, 3.0],
        [np.nan, 4.0, 2.0, 5.0, 1.0],
    ]
)


def test_verdicts_equal_the_direct_computation():
    model = _model(R)
    users = np.array([0, 0, 1, 2, 3])
    items = np.array([[3, 1], [0, 4], [1, 2], [2, 0], [0, 3]])
    expected = np.array(
        [[_direct(R, u, i) for i in row] for u, row in zip(users, items, strict=True)]
    )
    assert np.allclose(model.verdicts(users, items), expected)


def test_who_loved_the_original_rates_its_sequel_higher():
    """Two users alike in what they saw, opposite on the original: the sequel (always seen
    with the original) gets a positive verdict from one and a negative from the other."""
    nan = np.nan
    fans = np.array([[5.0, 5.0, nan, nan], [4.0, 4.0, nan, nan], [2.0, 2.0, nan, nan]])
    crowd = np.array([[nan, nan, 3.0, 4.0], [nan, nan, 2.0, 3.0]])
    probe = np.array([[5.0, nan, 3.0, 3.0], [1.0, nan, 3.0, 3.0]])
    model = _model(np.vstack([fans, crowd, probe]))
    loved, hated = model.verdicts(np.array([5, 6]), np.array([[1], [1]]))[:, 0]
    assert loved > 0 > hated


def test_unknown_users_and_items_get_no_verdict():
    model = _model(R)
    out = model.verdicts(np.array([0, 9]), np.array([[7, 1], [0, 1]]))
    assert out[0, 0] == 0.0 and out[1].tolist() == [0.0, 0.0] and out[0, 1] != 0.0


def test_implicit_data_has_no_verdicts():
    seen = sparse.csr_matrix(np.isfinite(R).astype(float))
    users, items = seen.nonzero()
    model = RatedNeighbours.from_ratings(seen, users, items, np.full(len(users), np.nan))
    assert not model.verdicts(np.arange(4), np.tile(np.arange(5), (4, 1))).any()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=6, max_size=6),
        min_size=3,
        max_size=6,
    )
)
def test_a_verdict_is_a_shrunk_mean_of_the_users_centred_ratings(rows):
    ratings = np.array([[np.nan if v is None else float(v) for v in r] for r in rows])
    if np.isfinite(ratings).sum() < 2:
        return
    model = _model(ratings)
    n_users, n_items = ratings.shape
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    got = model.verdicts(users, items[:, None])[:, 0]
    expected = [_direct(ratings, u, i) for u, i in zip(users, items, strict=True)]
    assert np.allclose(got, expected)


def test_item_neighbour_sums_equal_the_direct_computation():
    """The taste core's neighbourhood signal: over each item's k nearest by shrunk cosine,
    the similarities of those the user has; pinned to dense arithmetic."""
    from agents.neighbours import ItemNeighbours

    rng = np.random.default_rng(5)
    x = (rng.random((9, 7)) < 0.45).astype(float)
    seen = sparse.csr_matrix(x)
    k, shrink = 3, 1.0
    near = ItemNeighbours(seen, k=k, shrink=shrink)
    norms = np.sqrt((x**2).sum(axis=0))
    sim = (x.T @ x) / (norms[:, None] * norms[None, :] + shrink + 1e-12)
    np.fill_diagonal(sim, 0.0)
    users = np.arange(9)
    items = np.tile(np.arange(7), (9, 1))
    got = near.sums(seen, users, items)
    for u in users:
        for i in range(7):
            top = np.argsort(-sim[i], kind="stable")[:k]
            kept = sim[i, top]
            # Ties at the k-th similarity may pick either item: compare on the tie-free sum.
            assert got[u, i] == pytest.approx((kept * x[u, top]).sum()) or np.isclose(
                np.sort(sim[i])[::-1][k - 1], np.sort(sim[i])[::-1][k]
            )
    assert not near.sums(seen, np.array([20]), np.array([[1]])).any()  # a later user
