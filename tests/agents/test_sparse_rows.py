"""Reading users' sparse rows through dense blocks gives exactly what indexing gives."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from agents import collaborative, sparse_rows
from agents.sparse_rows import user_blocks, values_at


@contextlib.contextmanager
def patched(module, **values):
    """Module constants set for the block (hypothesis tests cannot take ``monkeypatch``)."""
    before = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(module, name, value)


@st.composite
def rows_and_reads(draw):
    """A sparse matrix (some explicit zeros and duplicate entries), and reads of it: user
    rows (repeated) with 1-2 dimensional column picks each."""
    n_users = draw(st.integers(1, 9))
    n_cols = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nnz = draw(st.integers(0, 3 * n_users * n_cols))
    r, c = rng.integers(n_users, size=nnz), rng.integers(n_cols, size=nnz)
    values = rng.choice([0.0, 1.0, -2.5, 0.125], size=nnz)
    matrix = sparse.csr_matrix((values, (r, c)), shape=(n_users, n_cols))  # sums duplicates
    n_reads = draw(st.integers(0, 30))
    users = rng.integers(n_users, size=n_reads)
    shape = (n_reads, *draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    return matrix, users, rng.integers(n_cols, size=shape)


@given(rows_and_reads(), st.integers(1, 40), st.sampled_from([0.0, np.inf]))
@settings(max_examples=150, deadline=None)
def test_values_at_equals_sparse_indexing_whatever_the_path_and_block_size(
    case, cells, dense_reads
):
    matrix, users, cols = case
    expected = np.zeros(cols.shape)
    for r, user in enumerate(users):
        expected[r] = matrix[int(user)].toarray()[0][cols[r]]
    # Many blocks of a user or two; DENSE_READS 0 reads dense rows, inf SciPy's indexing.
    with patched(sparse_rows, BLOCK_CELLS=cells, DENSE_READS=dense_reads):
        got = values_at(matrix, users, cols)
    np.testing.assert_array_equal(got, expected)


def test_user_blocks_cover_every_row_once_with_its_users_index():
    users = np.array([5, 2, 5, 9, 2, 7, 7, 0])
    unique = np.unique(users, return_inverse=True)
    seen = []
    for distinct, rows, local in user_blocks(*unique, width=10, cells=20):
        assert len(distinct) <= 2
        picked = np.arange(len(users))[rows]
        np.testing.assert_array_equal(distinct[local], users[picked])
        seen.extend(picked.tolist())
    assert sorted(seen) == list(range(len(users)))
    ((distinct, rows, local),) = user_blocks(*unique, width=1)  # one block: every row, in order
    assert rows == slice(None)
    np.testing.assert_array_equal(distinct[local], users)


@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from([15, 45, 1 << 23]))
@settings(max_examples=40, deadline=None)
def test_item_item_scores_are_the_same_bits_from_whole_rows_or_gathered(seed, reads, cells):
    """The two paths of ``ItemItem.scores`` add the same float64 terms in the same order;
    which one runs depends on the call's size, so they must agree exactly or a run's
    decisions would depend on how its users were batched."""
    rng = np.random.default_rng(seed)
    x = sparse.random(12, 15, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    x.data[:] = 1.0
    model = collaborative.build("ease", x, float(rng.uniform(1, 50)))
    users = rng.integers(12, size=reads)
    cols = rng.integers(15, size=(reads, int(rng.integers(1, 6))))
    with patched(collaborative, DENSE_SPEEDUP=0):  # always gather
        gathered = model.scores(users, cols)
    with patched(collaborative, DENSE_SPEEDUP=10**9), patched(sparse_rows, BLOCK_CELLS=cells):
        whole = model.scores(users, cols)  # whole rows, in blocks of 1, 3 or all users
    np.testing.assert_array_equal(whole, gathered)
    direct = x.toarray() @ model.w.astype(np.float64)
    np.testing.assert_allclose(whole, direct[users[:, None], cols])
