"""Reading many entries of a few users' rows of a sparse matrix, fast and exactly.

Scoring a page reads, for each (user, item) pair, entries of the user's row: their history
at an item's neighbours, say. SciPy's fancy indexing (``matrix[rows, cols]``) searches the
row for every entry, tens of nanoseconds each and more on long rows; when the same users
come back many times (a simulation that shows each user hundreds of pages at once),
reading from their rows made dense is several times faster (0.9 s against 0.07 s for
20,000 pages of ten on ml-100k). ``values_at`` takes the dense rows when the entries read
outnumber the dense cells made by ``DENSE_READS`` to one, and SciPy's indexing otherwise.
The values are the same either way, so results do not depend on the path. Dense rows are
made a block of users at a time, so memory stays at ``BLOCK_CELLS`` cells.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse

BLOCK_CELLS = 1 << 23
"""Dense cells (users × columns) made at once: 64 MB of float64."""
DENSE_READS = 1 / 16
"""Entries read per dense cell made above which ``values_at`` reads dense rows: a dense
cell costs about a nanosecond to make, a sparse lookup tens."""


def user_blocks(
    distinct: np.ndarray, inverse: np.ndarray, width: int, cells: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray | slice, np.ndarray]]:
    """Group rows by user into blocks of distinct users, at most ``cells // width`` each
    (``BLOCK_CELLS`` by default); ``distinct, inverse = np.unique(users,
    return_inverse=True)``, which the callers need for their cost check too.

    Yields (the block's distinct users, the rows that are theirs, each of those rows'
    index among the block's users). One block (the usual case) is every row, in order.
    """
    if not len(inverse):
        return
    per = max(1, (BLOCK_CELLS if cells is None else cells) // max(1, width))
    if len(distinct) <= per:
        yield distinct, slice(None), inverse
        return
    order = np.argsort(inverse, kind="stable")
    ranked = inverse[order]
    for start in range(0, len(distinct), per):
        lo, hi = np.searchsorted(ranked, [start, start + per])
        rows = order[lo:hi]
        yield distinct[start : start + per], rows, inverse[rows] - start


def values_at(matrix: sparse.csr_matrix, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[users[r], cols[r, ...]]`` for every row r: ``cols`` is n × … for n users;
    entries not stored are 0."""
    cols = np.asarray(cols, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    distinct, inverse = np.unique(users, return_inverse=True)
    if cols.size < DENSE_READS * len(distinct) * matrix.shape[1]:
        per_row = cols.size // max(1, len(users))
        picked = matrix[np.repeat(users, per_row), cols.ravel()]
        return np.asarray(picked, dtype=matrix.dtype).reshape(cols.shape)
    out = np.zeros(cols.shape, dtype=matrix.dtype)
    spread = (-1,) + (1,) * (cols.ndim - 1)
    for block, rows, local in user_blocks(distinct, inverse, matrix.shape[1]):
        dense = matrix[block].toarray()
        out[rows] = dense[local.reshape(spread), cols[rows]]
    return out
