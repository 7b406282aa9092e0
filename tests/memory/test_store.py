"""Contract tests for memory stores, and property tests for the scoring function."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory import (
    HashingEmbedder,
    InMemoryStore,
    MemoryRecord,
    MemoryStore,
    ScoringWeights,
    recency,
    relevance,
    retrieval_score,
)


def rec(id, owner, text, created=0, importance=0.5, **kw):
    return MemoryRecord(
        id=id,
        owner=owner,
        text=text,
        created=created,
        last_access=created,
        importance=importance,
        **kw,
    )


class MemoryStoreContract:
    """Every store passes these; a new backend's test is one class line."""

    def make(self) -> MemoryStore:
        raise NotImplementedError

    def test_meets_protocol(self):
        assert isinstance(self.make(), MemoryStore)

    def test_owner_never_sees_other_owners_records(self):
        store = self.make()
        store.add([rec("a1", "alice", "space opera"), rec("b1", "bob", "space opera")])
        (hits,) = store.search(["alice"], ["space opera"], 5, now=1)
        assert [h.record.id for h in hits] == ["a1"]

    def test_at_most_k_results(self):
        store = self.make()
        store.add([rec(f"a{i}", "alice", f"film number {i}") for i in range(10)])
        hits = store.search(["alice", "nobody"], ["film", "film"], 3, now=1)
        assert [len(h) for h in hits] == [3, 0]

    def test_most_recently_accessed_scores_highest_on_recency(self):
        store = self.make()
        store.add(
            [rec("old", "u", "a western", created=1), rec("new", "u", "a western", created=9)]
        )
        (hits,) = store.search(["u"], ["a western"], 2, now=10)
        assert [h.record.id for h in hits] == ["new", "old"]
        assert hits[0].recency > hits[1].recency

    def test_retrieval_refreshes_last_access(self):
        store = self.make()
        store.add([rec("x", "u", "jazz record", created=0)])
        store.search(["u"], ["jazz"], 1, now=7)
        assert store.records("u")[0].last_access == 7

    def test_forgotten_records_are_excluded_but_kept(self):
        store = self.make()
        store.add([rec("keep", "u", "noir film"), rec("gone", "u", "noir film", forgotten=True)])
        (hits,) = store.search(["u"], ["noir"], 5, now=1)
        assert [h.record.id for h in hits] == ["keep"]
        assert {r.id for r in store.records("u")} == {"keep", "gone"}

    def test_relevance_orders_equal_records(self):
        store = self.make()
        store.add([rec("c", "u", "cooking show about pasta"), rec("s", "u", "space battle epic")])
        (hits,) = store.search(["u"], ["space battle"], 1, now=0)
        assert hits[0].record.id == "s"

    def test_duplicate_ids_are_refused(self):
        store = self.make()
        store.add([rec("x", "u", "one")])
        with pytest.raises(ValueError, match="unique"):
            store.add([rec("x", "u", "two")])


class TestInMemoryStore(MemoryStoreContract):
    def make(self):
        return InMemoryStore(HashingEmbedder(64))


def test_hashing_embedder_is_normalised_and_stable():
    e = HashingEmbedder(32)
    v = e.embed(["hello world", "", "hello world"])
    assert np.allclose(np.linalg.norm(v[[0, 2]], axis=1), 1.0)
    assert np.all(v[1] == 0)
    assert np.array_equal(v[0], HashingEmbedder(32).embed(["hello world"])[0])


unit = st.floats(0, 1)


@given(
    st.integers(0, 1000),
    st.lists(st.integers(0, 1000), min_size=2, max_size=20),
    st.floats(0.5, 1.0),
)
def test_recency_is_monotone_in_last_access(now, last, decay):
    last = np.array(last, dtype=float)
    r = recency(now, last, decay)
    assert np.all((r >= 0) & (r <= 1))
    order = np.argsort(last)
    assert np.all(np.diff(r[order]) >= -1e-12)


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=20))
def test_relevance_maps_cosine_into_unit_interval_monotonically(sims):
    r = relevance(np.array(sims))
    assert np.all((r >= 0) & (r <= 1))
    order = np.argsort(sims)
    assert np.all(np.diff(r[order]) >= -1e-12)


@given(unit, unit, unit, st.floats(0, 5), st.floats(0, 5), st.floats(0, 5), unit)
@settings(max_examples=200)
def test_score_is_bounded_and_increasing_in_each_part(rec_, imp, rel, wr, wi, wv, bump):
    w = ScoringWeights(recency=wr, importance=wi, relevance=wv)
    base = retrieval_score(np.array([rec_]), np.array([imp]), np.array([rel]), w)[0]
    assert -1e-12 <= base <= 1 + 1e-12
    for parts in (
        (min(1, rec_ + bump), imp, rel),
        (rec_, min(1, imp + bump), rel),
        (rec_, imp, min(1, rel + bump)),
    ):
        higher = retrieval_score(*(np.array([p]) for p in parts), w)[0]
        assert higher >= base - 1e-12


class TestChromaStoreInline(MemoryStoreContract):
    def make(self):
        import uuid

        from memory.chroma_store import ChromaStore

        return ChromaStore(
            self.tmp / uuid.uuid4().hex, embedder=HashingEmbedder(64), background=False
        )

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp = tmp_path


WRITER = """
import sys
from memory import HashingEmbedder, MemoryRecord
from memory.chroma_store import ChromaStore

store = ChromaStore(sys.argv[1], embedder=HashingEmbedder(64))  # background writer process
records = [
    MemoryRecord(id=f"{o}-{i}", owner=o, text=f"{o} saw film {i} about {t}", created=i,
                 last_access=i, importance=(i % 5) / 5)
    for o in ("ann", "bob") for i, t in enumerate(["space", "love", "war", "space war", "jazz"] * 4)
]
store.add(records)
store.search(["ann"], ["space"], 3, now=30)
store.close()
"""


def test_chroma_store_survives_a_process_restart(tmp_path):
    import subprocess
    import sys

    from memory.chroma_store import ChromaStore

    path = tmp_path / "chroma"
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=300)
    reopened = ChromaStore(path, embedder=HashingEmbedder(64), background=False)
    ann = reopened.records("ann")
    assert len(ann) == 20 and len(reopened.records("bob")) == 20
    assert [r.id for r in ann] == [f"ann-{i}" for i in range(20)]
    touched = {r.id for r in ann if r.last_access == 30}
    assert len(touched) == 3

    mirror = InMemoryStore(HashingEmbedder(64))
    mirror.add(ann + reopened.records("bob"))
    for query in ("space", "jazz war", "love"):
        a = reopened.search(["ann", "bob"], [query, query], 4, now=40)
        b = mirror.search(["ann", "bob"], [query, query], 4, now=40)
        assert [[(h.record.id, round(h.score, 6)) for h in hs] for hs in a] == [
            [(h.record.id, round(h.score, 6)) for h in hs] for hs in b
        ]
    reopened.close()


LEFT_OPEN = """
import sys
from memory import HashingEmbedder, MemoryRecord
from memory.chroma_store import ChromaStore

store = ChromaStore(sys.argv[1], embedder=HashingEmbedder(64))  # background writer process
store.add([MemoryRecord(id=f"ann-{i}", owner="ann", text=f"film {i}", created=i,
                        last_access=i, importance=0.5) for i in range(5)])
store.sync()
# No close: a run stopped (Ctrl-C) before it took charge of closing its store.
"""


def test_a_store_nobody_closed_lets_the_process_exit_and_keeps_its_synced_writes(tmp_path):
    """The writer ignores SIGINT and SIGTERM (the parent stops it in order), so
    multiprocessing's exit handler, which SIGTERMs daemon children and then waits for
    them, would wait forever; the store stops its writer before that."""
    import subprocess
    import sys

    from memory.chroma_store import ChromaStore

    path = tmp_path / "chroma"
    done = subprocess.run(
        [sys.executable, "-c", LEFT_OPEN, str(path)], timeout=60, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    reopened = ChromaStore(path, embedder=HashingEmbedder(64), background=False)
    assert [r.id for r in reopened.records("ann")] == [f"ann-{i}" for i in range(5)]
    reopened.close()


def test_reopened_collection_gets_our_embedding_function_back(tmp_path):
    import chromadb

    from memory.chroma_functions import HashingFunction
    from memory.chroma_store import COLLECTION, ChromaStore

    store = ChromaStore(tmp_path, embedder=HashingEmbedder(64), background=False)
    store.add([rec("a", "u", "a film about space")])
    store.close()
    collection = chromadb.PersistentClient(path=str(tmp_path)).get_collection(COLLECTION)
    function = collection.configuration["embedding_function"]
    assert isinstance(function, HashingFunction) and function.embedder.dim == 64
    hits = collection.query(query_texts=["space"], n_results=1)
    assert hits["ids"] == [["a"]]


def test_forgotten_marks_survive_a_reopen(tmp_path):
    from memory import ForgettingConfig
    from memory.chroma_store import ChromaStore

    store = ChromaStore(tmp_path, embedder=HashingEmbedder(64), background=False)
    store.add(
        [
            rec("old", "u", "trivial thing", importance=0.0),
            rec("key", "u", "big thing", importance=1.0),
        ]
    )
    assert store.forget(300, ForgettingConfig()) == 1
    store.close()
    reopened = ChromaStore(tmp_path, embedder=HashingEmbedder(64), background=False)
    assert {r.id: r.forgotten for r in reopened.records("u")} == {"old": True, "key": False}
    (hits,) = reopened.search(["u"], ["thing"], 5, now=301)
    assert [h.record.id for h in hits] == ["key"]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory, start_chroma_server):
    """A real Chroma server on 127.0.0.1, started by the test and stopped after it."""
    proc, port = start_chroma_server(tmp_path_factory.mktemp("chroma-server"))
    yield port
    proc.terminate()
    proc.wait(timeout=10)


class TestChromaServerStore(MemoryStoreContract):
    """The same contract against a Chroma server (``HttpClient``), one collection per test."""

    @pytest.fixture(autouse=True)
    def _server(self, chroma_server):
        self.port = chroma_server

    def make(self):
        import uuid

        from memory.chroma_store import ChromaStore

        return ChromaStore(
            host="127.0.0.1",
            port=self.port,
            collection=f"t-{uuid.uuid4().hex[:12]}",
            embedder=HashingEmbedder(64),
            background=False,
        )
