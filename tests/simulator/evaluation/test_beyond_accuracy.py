import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.evaluation.metrics import (
    average_popularity,
    catalogue_coverage,
    exposure_counts,
    exposure_gini,
    genre_matrix,
    index_matrix,
    intra_list_diversity,
    novelty,
    popularity_counts,
    popularity_lift,
)
from simulator.stats import gini

ITEMS = pd.DataFrame(
    {
        "item_id": ["a", "b", "c", "d"],
        "title": ["A", "B", "C", "D"],
        "genres": [("Drama", "Comedy"), ("Drama",), ("Horror",), ()],
        "description": ["", "", "", ""],
    }
)
IDS = ITEMS["item_id"].tolist()


def test_index_matrix_pads_and_drops_unknown_items():
    got = index_matrix([["b", "zzz", "a"], []], IDS, 3)
    assert got.tolist() == [[1, 0, -1], [-1, -1, -1]]
    assert index_matrix([["a", "b", "c"]], IDS, 2).tolist() == [[0, 1]]


def test_genre_matrix_one_column_per_genre():
    g = genre_matrix(ITEMS)
    assert g.shape == (4, 3)  # Comedy, Drama, Horror (sorted)
    assert g.tolist() == [
        [True, True, False],
        [False, True, False],
        [False, False, True],
        [False, False, False],
    ]


def test_jaccard_diversity_by_hand():
    features = genre_matrix(ITEMS)
    lists = index_matrix([["a", "b", "c"], ["a", "b"], ["c"], ["d", "d"]], IDS, 3)
    got = intra_list_diversity(lists, features)
    # a-b: 1 - 1/2; a-c and b-c: 1 (nothing shared); mean of three pairs.
    assert got[0] == pytest.approx((0.5 + 1 + 1) / 3)
    assert got[1] == pytest.approx(0.5)
    assert math.isnan(got[2])  # one item: no pair
    assert got[3] == 0.0  # two items without genres count as alike


def test_cosine_diversity_by_hand():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    lists = index_matrix([["a", "b"], ["a", "c"], ["a", "a"], ["a", "d"]], IDS, 2)
    got = intra_list_diversity(lists, emb, metric="cosine")
    assert got == pytest.approx([1.0, 1 - 1 / math.sqrt(2), 0.0, 1.0])
    with pytest.raises(ValueError, match="jaccard or cosine"):
        intra_list_diversity(lists, emb, metric="euclid")


@given(st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=4), min_size=1, max_size=5))
def test_diversity_is_bounded_and_order_free(lists):
    features = genre_matrix(ITEMS)
    idx = index_matrix([[IDS[i] for i in row] for row in lists], IDS, 4)
    flipped = index_matrix([[IDS[i] for i in reversed(row)] for row in lists], IDS, 4)
    got = intra_list_diversity(idx, features)
    assert ((got >= 0) & (got <= 1)).all()
    np.testing.assert_allclose(got, intra_list_diversity(flipped, features))


def test_coverage_and_exposure():
    lists = index_matrix([["a", "b"], ["a", "c"], ["a", "b"]], IDS, 2)
    assert catalogue_coverage(lists, 4) == 0.75
    assert exposure_counts(lists, 4).tolist() == [3, 2, 1, 0]
    # The never-shown item d is in the Gini as a zero.
    assert exposure_gini(lists, 4) == pytest.approx(gini([3, 2, 1, 0]))
    assert exposure_gini(lists, 4) > gini([3, 2, 1])


def test_everyone_sees_the_same_item_is_maximally_concentrated():
    lists = index_matrix([["a"]] * 5, IDS, 1)
    assert catalogue_coverage(lists, 4) == 0.25
    assert exposure_gini(lists, 4) == pytest.approx(0.75)  # (n - 1) / n
    spread = index_matrix([["a"], ["b"], ["c"], ["d"]], IDS, 1)
    assert catalogue_coverage(spread, 4) == 1.0 and exposure_gini(spread, 4) == 0.0


def test_popularity_counts_follow_catalogue_order():
    inter = pd.DataFrame({"user_id": ["u", "v", "v", "w"], "item_id": ["c", "c", "a", "c"]})
    assert popularity_counts(inter, IDS).tolist() == [1, 0, 3, 0]


def test_novelty_is_self_information_of_training_share():
    popularity = np.array([6.0, 2.0, 0.0, 0.0])  # 8 interactions; c, d never seen
    lists = index_matrix([["a", "b"], ["c"]], IDS, 2)
    got = novelty(lists, popularity)
    assert got[0] == pytest.approx((-math.log2(6 / 8) - math.log2(2 / 8)) / 2)
    assert got[1] == pytest.approx(-math.log2(1 / 8))  # unseen counts as seen once
    assert novelty(index_matrix([["b"]], IDS, 1), popularity)[0] > got[0]


def test_arp_and_popularity_lift():
    popularity = np.array([10.0, 4.0, 2.0, 0.0])
    lists = index_matrix([["a", "b"], ["c", "d"], []], IDS, 2)
    arp = average_popularity(lists, popularity)
    assert arp[:2].tolist() == [7.0, 1.0] and math.isnan(arp[2])
    # lists average 4 (NaN ignored); profiles average 2: the lists are 100% more popular.
    assert popularity_lift(arp, np.array([1.0, 3.0, np.nan])) == pytest.approx(1.0)
    assert popularity_lift(np.array([1.0]), np.array([2.0])) == pytest.approx(-0.5)
    assert popularity_lift(np.array([3.0]), np.array([3.0])) == 0.0
