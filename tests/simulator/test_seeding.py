"""Per-user draws: a function of their coordinates, never of who else is drawn with them."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from simulator.seeding import Purpose, RunSeeds, user_uniforms

MASK = 2**64 - 1


def splitmix_reference(seed, purpose, user, step, page, slot):
    """The same hash in plain Python integers, written from the SplitMix64 definition."""
    gamma = 0x9E3779B97F4A7C15

    def mix(x):
        x &= MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
        return x ^ (x >> 31)

    h = mix(seed + gamma * purpose)
    for coordinate in (user, step, page):
        h = mix(h + gamma * (1 + coordinate))
    return (mix(h + gamma * slot) >> 11) / 2**53


def test_draws_match_a_plain_integer_splitmix64():
    draws = user_uniforms(7, Purpose.PAGE, np.array([0, 5, 123456]), 3, 2, k=3)
    for row, user in enumerate((0, 5, 123456)):
        for slot in range(3):
            expected = splitmix_reference(7, Purpose.PAGE, user, 3, 2, slot + 1)
            assert draws[row, slot] == expected


@given(
    st.integers(0, 2**40),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=20, unique=True),
    st.integers(0, 1000),
    st.integers(0, 9),
)
def test_a_user_s_draws_do_not_depend_on_the_batch(seed, users, step, page):
    together = user_uniforms(seed, Purpose.PAGE, np.array(users), step, page, k=3)
    for row, user in enumerate(users):
        alone = user_uniforms(seed, Purpose.PAGE, np.array([user]), step, page, k=3)
        assert np.array_equal(alone[0], together[row])
    assert ((together >= 0) & (together < 1)).all()


def test_draws_are_uniform_and_each_coordinate_gives_fresh_ones():
    users = np.arange(50_000)
    base = user_uniforms(1, Purpose.ACTIVATION, users, 1)[:, 0]
    assert stats.kstest(base, "uniform").pvalue > 1e-3
    others = [
        user_uniforms(2, Purpose.ACTIVATION, users, 1)[:, 0],  # another seed
        user_uniforms(1, Purpose.PAGE, users, 1)[:, 0],  # another purpose
        user_uniforms(1, Purpose.ACTIVATION, users, 2)[:, 0],  # another step
        user_uniforms(1, Purpose.ACTIVATION, users, 1, page=1)[:, 0],  # another page
        user_uniforms(1, Purpose.ACTIVATION, users, 1, k=2)[:, 1],  # another slot
    ]
    for other in others:
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.02
        assert not np.array_equal(base, other)


def test_run_seeds_draw_under_their_seed():
    users = np.array([3, 1, 4])
    assert np.array_equal(
        RunSeeds(11).draws(Purpose.AFTER_VISIT, users, 5, k=2),
        user_uniforms(11, Purpose.AFTER_VISIT, users, 5, k=2),
    )


@pytest.mark.parametrize("seed", [0, 2**63 + 5])
def test_large_seeds_wrap_without_warnings(seed):
    with np.errstate(all="raise"):
        draws = user_uniforms(seed, Purpose.PAGE, np.arange(4), 1)
    assert draws.shape == (4, 1)
