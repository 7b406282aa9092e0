"""The importance of a page's memories, shared by every policy that browses."""

import pytest

from agents.importance import NOTHING_APPEALED_IMPORTANCE, watch_importance


@pytest.mark.parametrize(
    ("rating", "importance"),
    [(1, 1.0), (2, 0.65), (3, 0.3), (4, 0.65), (5, 1.0), (3.5, 0.475)],
)
def test_watch_importance_rises_with_distance_from_a_lukewarm_three(rating, importance):
    assert watch_importance(rating) == pytest.approx(importance)


def test_watch_importance_stays_within_memory_bounds():
    assert all(0.0 <= watch_importance(r) <= 1.0 for r in range(1, 6))
    assert watch_importance(1) == watch_importance(5)


def test_a_page_that_appealed_to_nobody_is_less_important_than_any_watch():
    assert NOTHING_APPEALED_IMPORTANCE == 0.2
    assert min(watch_importance(r) for r in range(1, 6)) > NOTHING_APPEALED_IMPORTANCE
