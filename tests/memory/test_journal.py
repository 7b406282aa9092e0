"""The Chroma store's write-ahead journal: what is synced comes back, in order, once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from memory import HashingEmbedder, MemoryRecord
from memory.chroma_store import ChromaStore
from memory.journal import Journal, applied_count, mark_applied, read_entry

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def batches(draw):
    """One add batch: ids, texts, full metadata and vectors, as the store writes them."""
    n = draw(st.integers(1, 6))
    ids = [f"r{i}" for i in range(n)]
    metas = [
        {
            "owner": draw(st.sampled_from(["ann", "bob"])),
            "kind": "observation",
            "created": draw(st.integers(0, 10**6)),
            "last_access": draw(st.integers(0, 10**6)),
            "importance": draw(st.floats(0, 1)),
            "evidence": draw(st.sampled_from(["", "a|b"])),
            "forgotten": draw(st.booleans()),
            "seq": i,
        }
        for i in range(n)
    ]
    vectors = np.asarray(
        draw(st.lists(st.floats(-1, 1, width=32), min_size=3 * n, max_size=3 * n)),
        dtype=np.float32,
    ).reshape(n, 3)
    return ids, metas, vectors, [draw(texts) for _ in ids]


@settings(max_examples=25, deadline=None)
@given(adds=st.lists(batches(), min_size=1, max_size=4), applied=st.integers(0, 5))
def test_synced_batches_come_back_exactly_past_the_applied_mark(tmp_path_factory, adds, applied):
    folder = tmp_path_factory.mktemp("journal")
    journal = Journal(folder)
    entries = [journal.append("add", *add) for add in adds]
    journal.append("update", ["r0"], [{"last_access": 7, "forgotten": True, "importance": 0.25}])
    for entry, (ids, metas, vectors, words) in zip(entries, adds, strict=True):
        found = read_entry(entry)  # where the writer process reads it, before any sync
        assert (found.ids, found.metas, found.texts) == (ids, metas, words)
        np.testing.assert_array_equal(found.vectors, vectors)
    journal.sync()
    mark_applied(folder, min(applied, len(adds) + 1))
    back = list(Journal(folder).pending())  # another process reading what is on disk
    start = min(applied, len(adds) + 1)
    assert [b.number for b in back] == list(range(start, len(adds) + 1))
    for batch in back:
        if batch.number == len(adds):
            assert batch.op == "update" and batch.ids == ["r0"] and batch.vectors is None
            assert batch.metas == [{"last_access": 7, "forgotten": True, "importance": 0.25}]
            continue
        ids, metas, vectors, words = adds[batch.number]
        assert (batch.op, batch.ids, batch.metas, batch.texts) == ("add", ids, metas, words)
        np.testing.assert_array_equal(batch.vectors, vectors)
    journal.close()


def test_a_torn_last_batch_is_dropped_and_later_files_continue_the_numbering(tmp_path):
    journal = Journal(tmp_path)
    vectors = np.eye(2, dtype=np.float32)
    meta = {"owner": "ann", "kind": "observation", "created": 0, "last_access": 0}
    meta |= {"importance": 0.5, "evidence": "", "forgotten": False, "seq": 0}
    journal.append("add", ["a", "b"], [meta, meta], vectors, ["x", "y"])
    journal.sync()
    size = journal._sink.tell()
    journal.append("add", ["c", "d"], [meta, meta], vectors, ["z", "w"])
    journal.sync()
    journal.close()
    (first,) = sorted(tmp_path.glob("*.arrows"))
    with open(first, "r+b") as f:  # a crash in the middle of writing the second batch
        f.truncate(size + (first.stat().st_size - size) // 2)
    reopened = Journal(tmp_path)
    assert reopened.count == 1
    reopened.append("add", ["e"], [meta], vectors[:1], ["v"])
    reopened.sync()
    assert [(b.number, b.ids) for b in Journal(tmp_path).pending()] == [(0, ["a", "b"]), (1, ["e"])]
    reopened.close()


def test_an_applied_mark_past_what_survived_a_crash_is_pulled_back(tmp_path):
    journal = Journal(tmp_path)
    journal.append("update", ["a"], [{"last_access": 1}])
    journal.close()
    mark_applied(tmp_path, 3)  # Chroma applied batches the journal never synced
    reopened = Journal(tmp_path)
    assert applied_count(tmp_path) == 1 == reopened.count
    reopened.append("update", ["a"], [{"last_access": 2}])
    reopened.sync()
    assert [b.metas for b in Journal(tmp_path).pending()] == [[{"last_access": 2}]]
    reopened.close()


def _records(n: int) -> list[MemoryRecord]:
    return [
        MemoryRecord(id=f"u{i % 7}-{i}", owner=f"u{i % 7}", text=f"space film{i}", created=i)
        for i in range(n)
    ]


def _vectors(n: int) -> np.ndarray:
    """Distinct unit vectors (hashed texts this many would collide)."""
    vectors = np.random.default_rng(0).normal(size=(n, 256)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _nearest(store: ChromaStore, vector: np.ndarray) -> list[list[str]]:
    """The record Chroma's own index finds nearest to ``vector``."""
    hits = store._chroma.ops.collection.query(query_embeddings=vector[None], n_results=1)
    return hits["ids"]


def test_writes_chroma_never_applied_are_applied_when_the_store_reopens(tmp_path):
    """Chroma misses every write (a crash, or a close that left them to the journal): the
    next open applies them from the journal, and Chroma then answers as if it had them."""
    store = ChromaStore(tmp_path, embedder=HashingEmbedder(256), background=False, fresh=True)
    store._chroma.submit = lambda *args: None  # the writer never gets them
    records, vectors = _records(40), _vectors(40)
    store.add(records, vectors)
    store.search(["u1"], ["space"], 2, now=99)  # access times: an update batch
    store.close()
    assert store._journal.count == 2 and applied_count(store._journal.folder) == 0
    reopened = ChromaStore(tmp_path, embedder=HashingEmbedder(256), background=False)
    try:
        assert reopened._chroma.call("count") == 40
        back = {r.id: r for owner in {r.owner for r in records} for r in reopened.records(owner)}
        assert set(back) == {r.id for r in records}
        assert sum(r.last_access == 99 for r in back.values()) == 2
        assert not list(tmp_path.glob("journal/*.arrows")), "applied, so the journal is emptied"
        assert _nearest(reopened, vectors[3]) == [[records[3].id]]
    finally:
        reopened.close()


def test_a_background_store_is_whole_after_a_prompt_close(tmp_path):
    """Close stops the writer after the chunk in hand; the rest waits in the journal, and
    the reopened store has every record, with Chroma's index answering queries."""
    store = ChromaStore(tmp_path, embedder=HashingEmbedder(256), fresh=True)
    records, vectors = _records(6000), _vectors(6000)
    for start in range(0, len(records), 2000):
        store.add(records[start : start + 2000], vectors[start : start + 2000])
        store.sync()
    store.close()
    reopened = ChromaStore(tmp_path, embedder=HashingEmbedder(256), background=False)
    try:
        assert reopened._chroma.call("count") == 6000
        assert _nearest(reopened, vectors[-1]) == [[records[-1].id]]
    finally:
        reopened.close()
