import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.evaluation.metrics import RANKING_METRICS, hit_matrix, ranking_metrics


def one(recommended, relevant, k):
    """The metrics of a single list, as a plain dict."""
    return ranking_metrics([recommended], [relevant], k).iloc[0].to_dict()


def assert_metrics(got, **expected):
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name


# -- hand-computed cases -------------------------------------------------------------------


def test_two_relevant_one_miss_between():
    got = one(["a", "x", "b"], {"a", "b"}, 3)
    dcg = 1 + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3)
    assert_metrics(
        got,
        hit_rate=1,
        precision=2 / 3,
        recall=1,
        ndcg=dcg / ideal,
        mrr=1,
        map=(1 / 1 + 2 / 3) / 2,
    )


def test_single_relevant_at_rank_three():
    got = one(["x", "y", "a"], {"a"}, 3)
    assert_metrics(
        got, hit_rate=1, precision=1 / 3, recall=1, ndcg=1 / math.log2(4), mrr=1 / 3, map=1 / 3
    )


def test_no_hit_scores_zero_everywhere():
    got = one(["x", "y"], {"a"}, 2)
    assert_metrics(got, **dict.fromkeys(RANKING_METRICS, 0.0))


def test_only_the_top_k_count():
    got = one(["x", "y", "a"], {"a"}, 2)
    assert_metrics(got, **dict.fromkeys(RANKING_METRICS, 0.0))


def test_more_relevant_than_k_normalises_ndcg_and_map_by_k():
    # ideal DCG over min(|rel|, K) = 2 hits, AP over min(|rel|, K) = 2: a perfect top 2.
    got = one(["a", "b", "c"], {"a", "b", "c", "d"}, 2)
    assert_metrics(got, hit_rate=1, precision=1, recall=0.5, ndcg=1, mrr=1, map=1)


def test_map_second_hit_at_rank_four():
    got = one(["a", "x", "y", "b"], {"a", "b", "c"}, 4)
    # AP@4 = (1/1 + 2/4) / min(3, 4)
    assert_metrics(got, map=(1 + 0.5) / 3, recall=2 / 3, precision=0.5)
    dcg = 1 + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["ndcg"] == pytest.approx(dcg / ideal)


def test_short_list_divides_precision_by_k():
    got = one(["a"], {"a"}, 3)
    assert_metrics(got, hit_rate=1, precision=1 / 3, recall=1, ndcg=1, mrr=1, map=1)


def test_repeated_item_counts_once():
    got = one(["a", "a"], {"a"}, 2)
    assert_metrics(got, precision=0.5, recall=1, ndcg=1, map=1)


def test_user_without_relevant_items_is_undefined():
    got = one(["a", "b"], set(), 2)
    assert all(math.isnan(got[name]) for name in RANKING_METRICS)


def test_hit_matrix_layout():
    hits = hit_matrix([["a", "b"], ["c"]], [{"b"}, {"c", "z"}], 3)
    assert hits.tolist() == [[False, True, False], [True, False, False]]
    with pytest.raises(ValueError, match="k must be at least 1"):
        hit_matrix([["a"]], [{"a"}], 0)


def test_rows_do_not_influence_each_other():
    lists = [["a", "x", "b"], ["x", "y", "a"], ["q"]]
    relevant = [{"a", "b"}, {"a"}, {"a"}]
    together = ranking_metrics(lists, relevant, 3)
    for row, (items, rel) in enumerate(zip(lists, relevant, strict=True)):
        alone = one(items, rel, 3)
        assert together.iloc[row].to_dict() == pytest.approx(alone)


# -- properties ----------------------------------------------------------------------------

CATALOGUE = [f"i{n}" for n in range(15)]


@st.composite
def cases(draw):
    """A list of distinct items, a non-empty relevant set and K."""
    listed = draw(st.lists(st.sampled_from(CATALOGUE), min_size=1, max_size=12, unique=True))
    relevant = draw(st.sets(st.sampled_from(CATALOGUE), min_size=1, max_size=10))
    k = draw(st.integers(1, 12))
    return listed, relevant, k


@given(cases())
def test_every_metric_lies_in_unit_interval(case):
    got = one(*case)
    assert all(0.0 <= got[name] <= 1.0 + 1e-12 for name in RANKING_METRICS), got


@given(cases())
def test_relevant_items_first_is_perfect(case):
    listed, relevant, k = case
    perfect = sorted(relevant) + [i for i in listed if i not in relevant]
    got = one(perfect, relevant, k)
    n = len(relevant)
    assert_metrics(
        got, hit_rate=1, ndcg=1, mrr=1, map=1, precision=min(n, k) / k, recall=min(n, k) / n
    )


@given(cases(), st.randoms(use_true_random=False))
def test_shuffling_non_relevant_items_changes_nothing(case, rnd):
    listed, relevant, k = case
    slots = [p for p, item in enumerate(listed) if item not in relevant]
    moved = [listed[p] for p in slots]
    rnd.shuffle(moved)
    shuffled = list(listed)
    for p, item in zip(slots, moved, strict=True):
        shuffled[p] = item
    assert one(shuffled, relevant, k) == pytest.approx(one(listed, relevant, k))


@given(cases())
def test_moving_a_hit_up_never_hurts(case):
    listed, relevant, k = case
    hits = [p for p, item in enumerate(listed[:k]) if item in relevant]
    misses = [p for p, item in enumerate(listed[:k]) if item not in relevant]
    if not hits or not misses or misses[0] > hits[-1]:
        return
    better = list(listed)
    hit = hits[-1]
    miss = next(p for p in misses if p < hit)
    better[hit], better[miss] = better[miss], better[hit]
    before, after = one(listed, relevant, k), one(better, relevant, k)
    for name in ("ndcg", "mrr", "map"):
        assert after[name] >= before[name] - 1e-12, name
    for name in ("hit_rate", "precision", "recall"):
        assert after[name] == pytest.approx(before[name]), name


@given(cases())
def test_hit_rate_and_recall_grow_with_k(case):
    listed, relevant, k = case
    small, large = one(listed, relevant, k), one(listed, relevant, k + 1)
    assert large["hit_rate"] >= small["hit_rate"]
    assert large["recall"] >= small["recall"]
    assert small["hit_rate"] >= small["mrr"] >= 0


# -- agreement with ranx -------------------------------------------------------------------


def random_cases(n, seed):
    rng = np.random.default_rng(seed)
    catalogue = [f"i{i:03d}" for i in range(60)]
    lists, relevant = [], []
    for _ in range(n):
        lists.append(rng.choice(catalogue, size=rng.integers(1, 25), replace=False).tolist())
        relevant.append(set(rng.choice(catalogue, size=rng.integers(1, 16), replace=False)))
    return lists, relevant


@pytest.mark.parametrize("k", [1, 5, 10])
def test_agrees_with_ranx(k):
    ranx = pytest.importorskip("ranx")
    lists, relevant = random_cases(400, seed=k)
    queries = [f"q{n:04d}" for n in range(len(lists))]  # sorted == insertion order
    qrels = ranx.Qrels({q: dict.fromkeys(rel, 1) for q, rel in zip(queries, relevant, strict=True)})
    run = ranx.Run(
        {
            q: {item: float(len(items) - rank) for rank, item in enumerate(items)}
            for q, items in zip(queries, lists, strict=True)
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety chatter
        theirs = ranx.evaluate(
            qrels, run, [f"{name}@{k}" for name in RANKING_METRICS], return_mean=False
        )
    ours = ranking_metrics(lists, relevant, k)
    n_relevant = np.array([len(r) for r in relevant])
    for name in RANKING_METRICS:  # our names are ranx's
        expected = np.asarray(theirs[f"{name}@{k}"])
        got = ours[name].to_numpy()
        if name == "map":
            # ranx (like trec_eval) divides AP@k by |rel|, we by min(|rel|, k): rescale.
            got = got * np.minimum(n_relevant, k) / n_relevant
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=name)
    assert (n_relevant > k).any(), "cases should include users with more relevant items than k"
