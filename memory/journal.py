"""The Chroma store's write-ahead journal: a write is durable once it is here.

Chroma's ``add`` inserts into its HNSW index at about 2,500 records/s on two cores, and a
step that waited for it waited for the index. So every write (new records with their
vectors, and metadata changes) is appended to an Arrow IPC stream in the store's folder,
which ``sync`` flushes to disk (``fsync``) at each step; Chroma applies the same writes
behind the run, in the store's writer process, and records how far it got in the
``applied`` file. Opening the store applies whatever Chroma had not (after a crash, or a
close that did not wait), then empties the journal, so Chroma stays the store a reader
opens.

Arrow IPC (pyarrow, already a dependency for the run logs) keeps vectors as binary float32
columns: appending is a memory copy, tens of thousands of records a second. Each process
that opens the journal writes its own file (an IPC stream cannot be reopened for
appending); batches are numbered across files in order. A batch torn by a crash is not
read back, and neither is anything after it in that file: it was never synced, so no log
names it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

APPLIED = "applied"
"""The file, in the journal's folder, holding how many batches Chroma has applied."""

SCHEMA = pa.schema(
    [
        ("op", pa.string()),
        ("id", pa.string()),
        ("text", pa.string()),
        ("owner", pa.string()),
        ("kind", pa.string()),
        ("created", pa.int64()),
        ("last_access", pa.int64()),
        ("importance", pa.float64()),
        ("evidence", pa.string()),
        ("forgotten", pa.bool_()),
        ("seq", pa.int64()),
        ("vector", pa.list_(pa.float32())),
    ]
)
META_FIELDS = ("owner", "kind", "created", "last_access", "importance", "evidence", "forgotten")
"""Chroma metadata keys kept in the journal (with ``seq``); an update carries a subset."""


@dataclass(frozen=True)
class Batch:
    """One journalled write, as the store handed it to Chroma."""

    number: int
    op: str  # "add" or "update"
    ids: list[str]
    metas: list[dict[str, Any]]
    vectors: np.ndarray | None = None
    texts: list[str] | None = None


@dataclass(frozen=True)
class Entry:
    """Where a batch lies: what the writer process is sent instead of the batch itself,
    so a writer that falls behind holds no copy of the records in memory."""

    number: int
    path: str
    offset: int


class Journal:
    """Append-only batches of memory writes in ``folder``, numbered from 0 across files.

    Args:
        folder: Where the journal's files live (created if absent).
        fresh: Start empty: a new run's store discards any earlier journal.
    """

    def __init__(self, folder: str | Path, *, fresh: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sink: Any = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._count = 0
        if fresh:
            self.clear()
        self._count = sum(1 for _ in self._read())
        # A crash can lose batches Chroma had applied but the journal never synced.
        if applied_count(self.folder) > self._count:
            mark_applied(self.folder, self._count)

    @property
    def count(self) -> int:
        """Batches written so far (the next batch's number)."""
        return self._count

    def append(
        self,
        op: str,
        ids: Sequence[str],
        metas: Sequence[dict[str, Any]],
        vectors: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
    ) -> Entry:
        """Write one batch (to the OS, where another process can read it, but not yet to
        disk); returns where it lies."""
        n = len(ids)
        given = {"op": [op] * n, "id": list(ids), "text": texts}
        for name in (*META_FIELDS, "seq"):
            given[name] = [m[name] for m in metas] if metas and name in metas[0] else None
        arrays = [_column(given[f.name], n, f.type) for f in SCHEMA if f.name != "vector"]
        arrays.append(_vectors(vectors, n))
        writer = self._open_writer()
        entry = Entry(self._count, self._sink.name, self._sink.tell())
        writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=SCHEMA))
        self._sink.flush()
        self._count += 1
        return entry

    def sync(self) -> None:
        """Make every appended batch durable (flush and ``fsync``)."""
        if self._sink is not None:
            self._sink.flush()
            os.fsync(self._sink.fileno())

    def pending(self) -> Iterator[Batch]:
        """The batches Chroma has not applied, in order."""
        start = applied_count(self.folder)
        for number, batch in enumerate(self._read()):
            if number >= start:
                yield _decode(number, batch)

    def clear(self) -> None:
        """Remove every batch (Chroma has them all, or the run starts anew)."""
        self.close()
        for path in self._files():
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.folder / APPLIED).unlink()
        self._count = 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self.sync()
            self._sink.close()
        self._writer = self._sink = None

    def _open_writer(self) -> pa.ipc.RecordBatchStreamWriter:
        if self._writer is None:
            path = self.folder / f"{self._count:012d}.arrows"
            self._sink = open(path, "wb")  # noqa: SIM115 - held open until close
            self._writer = pa.ipc.new_stream(self._sink, SCHEMA)
        return self._writer

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.arrows"))

    def _read(self) -> Iterator[pa.RecordBatch]:
        """Every readable batch of every file, in order; a torn batch ends its file."""
        for path in self._files():  # ``append`` flushes each batch, so all are readable
            try:
                with pa.OSFile(str(path)) as source:
                    reader = pa.ipc.open_stream(source)
                    while True:
                        try:
                            yield reader.read_next_batch()
                        except StopIteration:
                            break
            except (pa.ArrowInvalid, OSError):
                continue  # torn by a crash: what was read is kept, the rest was never synced


def _column(values: Sequence[Any] | None, n: int, kind: pa.DataType) -> pa.Array:
    return pa.nulls(n, kind) if values is None else pa.array(values, type=kind)


def _vectors(vectors: np.ndarray | None, n: int) -> pa.Array:
    kind = SCHEMA.field("vector").type
    if vectors is None:
        return pa.nulls(n, kind)
    flat = np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, -1)
    return pa.FixedSizeListArray.from_arrays(flat.ravel(), flat.shape[1]).cast(kind)


def _decode(number: int, batch: pa.RecordBatch) -> Batch:
    columns = {name: batch.column(name).to_pylist() for name in SCHEMA.names if name != "vector"}
    op = columns["op"][0]
    names = [n for n in (*META_FIELDS, "seq") if any(v is not None for v in columns[n])]
    metas = [{n: columns[n][i] for n in names} for i in range(batch.num_rows)]
    if op == "update":
        return Batch(number, op, columns["id"], metas)
    vectors = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
    return Batch(
        number,
        op,
        columns["id"],
        metas,
        vectors.reshape(batch.num_rows, -1).astype(np.float32),
        columns["text"],
    )


def read_entry(entry: Entry) -> Batch:
    """The batch at ``entry`` (the file's schema message may come first)."""
    with pa.OSFile(entry.path) as source:
        source.seek(entry.offset)
        message = pa.ipc.read_message(source)
        while message.type != "record batch":
            message = pa.ipc.read_message(source)
        return _decode(entry.number, pa.ipc.read_record_batch(message, SCHEMA))


def applied_count(folder: str | Path) -> int:
    """How many batches Chroma has applied (0 when it has not recorded any)."""
    try:
        return int((Path(folder) / APPLIED).read_text())
    except (FileNotFoundError, ValueError):
        return 0


def mark_applied(folder: str | Path, count: int) -> None:
    """Record that Chroma has applied the first ``count`` batches (atomically)."""
    target = Path(folder) / APPLIED
    temporary = target.with_suffix(".tmp")
    temporary.write_text(str(count))
    os.replace(temporary, target)
