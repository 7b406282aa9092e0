"""Chroma as the store a reader opens, with an in-process hot index in front of it.

One shared collection holds every owner's records, with ``owner`` in the metadata (1,000
per-agent collections cost about 2.7 GB here). A filtered Chroma query costs about 40 ms,
so searches run on the hot index (``OwnerIndex``) and Chroma only receives batched writes.

Chroma's writes hold the GIL and insert into its HNSW index at about 2,500 records/s
here, so by default a child process owns the client and applies writes in order while
the world steps on; reads that need Chroma (loading an owner on resume) wait for the
writes queued before them. A write is durable once it is in the journal
(``memory.journal``), which ``sync`` flushes to disk at each step; ``close`` stops the
writer after the chunk in hand, and the next open applies what Chroma had not.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing import util as mp_util
from pathlib import Path
from typing import Any

import numpy as np

from memory.embedders import Embedder
from memory.in_memory import InMemoryStore
from memory.journal import Batch, Entry, Journal, applied_count, mark_applied, read_entry
from memory.records import MemoryKind, MemoryRecord
from memory.scoring import ScoringWeights
from simulator.errors import ServerError

COLLECTION = "recworld-memories"
CHUNK = 1000
"""Records the writer hands Chroma at a time: it checks between chunks whether the store
is closing, so a close waits for at most one chunk (about 0.4 s here)."""


def _meta(record: MemoryRecord, seq: int) -> dict[str, Any]:
    return {
        "owner": record.owner,
        "kind": str(record.kind),
        "created": record.created,
        "last_access": record.last_access,
        "importance": float(record.importance),
        "evidence": "|".join(record.evidence),
        "forgotten": record.forgotten,
        "seq": seq,
    }


def _record(id_: str, text: str, meta: dict[str, Any]) -> MemoryRecord:
    evidence = meta.get("evidence") or ""
    return MemoryRecord(
        id=id_,
        owner=meta["owner"],
        text=text,
        kind=MemoryKind(meta["kind"]),
        created=int(meta["created"]),
        last_access=int(meta["last_access"]),
        importance=float(meta["importance"]),
        evidence=tuple(evidence.split("|")) if evidence else (),
        forgotten=bool(meta["forgotten"]),
    )


class ChromaOps:
    """The Chroma calls the store makes; runs in the child process or inline.

    ``stopping`` (the writer's event) is set when the store closes: a write in hand stops
    at its next chunk and is left to the journal."""

    def __init__(self, spec: dict[str, Any], stopping: Any = None) -> None:
        self.stopping = stopping
        import chromadb

        from memory.chroma_functions import chroma_function

        if spec.get("host"):
            self.client = chromadb.HttpClient(host=spec["host"], port=spec.get("port", 8000))
        else:
            self.client = chromadb.PersistentClient(path=spec["path"])
        function = chroma_function(spec["embedder"], spec["dim"], spec.get("precision", "auto"))
        name = spec.get("collection", COLLECTION)
        if spec.get("fresh"):
            with contextlib.suppress(Exception):  # absent: nothing to clear
                self.client.delete_collection(name)
        self.collection = self.client.get_or_create_collection(
            name,
            embedding_function=function,
            configuration={"hnsw": {"space": "cosine"}},
        )
        self.journal = spec.get("journal")

    def apply(
        self,
        number: int,
        op: str,
        ids: list[str],
        metas: list[dict],
        vectors: np.ndarray | None = None,
        texts: list[str] | None = None,
    ) -> None:
        """Apply journal batch ``number`` in chunks and record it as applied; a store that
        is closing leaves the rest to the next open, which upserts it."""
        for start in range(0, len(ids), CHUNK):
            if self.stopping is not None and self.stopping.is_set():
                return
            part = slice(start, start + CHUNK)
            if op == "update":
                self.collection.update(ids=ids[part], metadatas=metas[part])
            else:
                self.collection.upsert(
                    ids=ids[part],
                    embeddings=vectors[part],
                    documents=texts[part],
                    metadatas=metas[part],
                )
        if self.journal is not None:
            mark_applied(self.journal, number + 1)

    def apply_logged(self, entry: Entry) -> None:
        """Apply the journal batch at ``entry`` (see ``apply``)."""
        self._apply_batch(read_entry(entry))

    def replay(self) -> int:
        """Apply every journal batch Chroma has not; returns how many."""
        if self.journal is None:
            return 0
        applied = 0
        for batch in Journal(self.journal).pending():  # one batch in memory at a time
            self._apply_batch(batch)
            applied += 1
        return applied

    def _apply_batch(self, batch: Batch) -> None:
        self.apply(batch.number, batch.op, batch.ids, batch.metas, batch.vectors, batch.texts)

    def load(self, owners: list[str]) -> dict[str, Any]:
        where = {"owner": owners[0]} if len(owners) == 1 else {"owner": {"$in": owners}}
        got = self.collection.get(where=where, include=["embeddings", "documents", "metadatas"])
        return {
            "ids": got["ids"],
            "documents": got["documents"],
            "metadatas": got["metadatas"],
            "embeddings": np.asarray(got["embeddings"], dtype=np.float32),
        }

    def count(self) -> int:
        return self.collection.count()

    def owners(self) -> list[str]:
        metas = self.collection.get(include=["metadatas"])["metadatas"]
        return sorted({m["owner"] for m in metas})


def _die_with_parent(parent: int) -> None:
    """The writer never outlives the run: a thread checks once a second that the parent
    is alive (after ``kill -9`` the child is re-parented) and ends the process if not.
    Ctrl-C and SIGTERM reach the whole process group; the parent stops the writer in
    order, after its queued writes, so the writer ignores both instead of dying mid-write
    (with a traceback of its own, and the step's memories lost)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve(
    spec: dict[str, Any],
    requests: mp.Queue,
    replies: mp.Queue,
    failures: mp.Queue,
    stopping: Any,
    parent: int | None = None,
) -> None:
    """Child process loop: apply requests in order; reply to the ones that wait.

    A failed write is sent on ``failures`` at once (the parent raises it at its next
    ``sync``) and again to the next waiting call. Once ``stopping`` is set, the writes
    still queued are left to the journal."""
    if parent is not None:
        _die_with_parent(parent)
    if spec.get("journal"):
        # Behind a journal, Chroma's pace never holds up a step: the world gets the CPU first.
        with contextlib.suppress(OSError):
            os.nice(10)
    try:
        ops = ChromaOps(spec, stopping)
        replies.put((True, None))
    except Exception as exc:  # reported to the parent, which raises it
        replies.put((False, f"{type(exc).__name__}: {exc}"))
        return
    failure: str | None = None
    while True:
        op, args, wants_reply = requests.get()
        if op == "stop":
            replies.put((True, None))
            for channel in (replies, failures):
                channel.close()
                channel.join_thread()
            # Chroma commits each write before it returns and the answer is sent; the
            # interpreter's own teardown (0.5-0.8 s with Chroma's runtime loaded) would
            # only make the close wait.
            os._exit(0)
        if stopping.is_set() and not wants_reply:
            continue
        try:
            value = getattr(ops, op)(*args) if op != "sync" else None
            if wants_reply:
                replies.put((failure is None, failure or value))
                failure = None
        except Exception as exc:  # a failed write is reported at the next waiting call
            failure = f"chroma {op} failed: {type(exc).__name__}: {exc}"
            failures.put(failure)
            if wants_reply:
                replies.put((False, failure))
                failure = None


class _Inline:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.ops = ChromaOps(spec)

    def submit(self, op: str, *args: Any) -> None:
        getattr(self.ops, op)(*args)

    def call(self, op: str, *args: Any) -> Any:
        return None if op == "sync" else getattr(self.ops, op)(*args)

    def check(self) -> None:
        """Inline writes raise where they fail: nothing is pending."""

    def close(self, promptly: bool = False) -> None:
        pass


def _stop_writer(process: Any, requests: mp.Queue, stopping: Any) -> None:
    """Stop a writer nobody closed (the run was stopped before it took charge of the
    store): after the chunk in hand, or killed if it does not answer within 30 s."""
    if not process.is_alive():
        return
    stopping.set()
    with contextlib.suppress(Exception):
        requests.put(("stop", (), False))
    process.join(timeout=30)
    if process.is_alive():
        process.kill()
        process.join(timeout=5)
    requests.cancel_join_thread()


class _Background:
    def __init__(self, spec: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.requests: mp.Queue = ctx.Queue()
        self.replies: mp.Queue = ctx.Queue()
        self.failures: mp.Queue = ctx.Queue()
        self.stopping = ctx.Event()
        self.process = ctx.Process(
            target=_serve,
            args=(spec, self.requests, self.replies, self.failures, self.stopping, os.getpid()),
        )
        self.process.daemon = True
        self.process.start()
        # At exit, before multiprocessing's own handler, which would SIGTERM the writer (it
        # ignores that) and wait for it forever: an interrupted start-up never hangs. Tied
        # to no object, so a garbage collection never blocks on it; ``close`` cancels it.
        self._at_exit = mp_util.Finalize(
            None,
            _stop_writer,
            args=(self.process, self.requests, self.stopping),
            exitpriority=100,  # before the queues' own finalisers (10) close their feeders
        )
        self._reply()

    def submit(self, op: str, *args: Any) -> None:
        self._check_alive()
        self.requests.put((op, args, False))

    def call(self, op: str, *args: Any) -> Any:
        self._check_alive()
        self.requests.put((op, args, True))
        return self._reply()

    def check(self) -> None:
        """Raise a write that failed since the last check, without waiting for the rest."""
        self._check_alive()
        with contextlib.suppress(queue.Empty):
            raise ServerError(f"memory store: {self.failures.get_nowait()}")

    def _reply(self) -> Any:
        """Wait for the child's answer, noticing within a second if it has died."""
        while True:
            try:
                ok, value = self.replies.get(timeout=1.0)
                break
            except queue.Empty:
                self._check_alive()
        if not ok:
            raise ServerError(f"memory store: {value}")
        return value

    def _check_alive(self) -> None:
        if not self.process.is_alive():
            raise ServerError(
                f"memory store: the Chroma writer process exited (code "
                f"{self.process.exitcode}); writes queued since its last reply are lost. "
                "Rerun, or set memory.background: false"
            )

    def close(self, promptly: bool = False) -> None:
        """Stop the writer: after its queued writes, or (``promptly``, when a journal holds
        them) after the chunk in hand."""
        if promptly:
            self.stopping.set()
        if self.process.is_alive():
            with contextlib.suppress(ServerError):
                self.call("stop")
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.terminate()
        if not self.process.is_alive():
            # Nobody reads the queue any more: do not wait at exit to flush it.
            self.requests.cancel_join_thread()
            self._at_exit.cancel()


class ChromaStore(InMemoryStore):
    """Chroma-backed memory store; passes the same contract tests as ``InMemoryStore``.

    Args:
        path: Folder of an embedded (persistent) Chroma; ignored when ``host`` is set.
        host: A Chroma server's host, for shared deployments.
        embedder: Must match the one the collection was created with.
        background: Apply writes in a child process (the default) or inline.
        fresh: Start from an empty collection (a new run); ``False`` reopens what is there.
        journal: The write-ahead journal's folder: by default ``path/journal`` for an
            embedded store, none for a server (then ``sync`` waits for Chroma itself).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        host: str | None = None,
        port: int = 8000,
        collection: str = COLLECTION,
        embedder: Embedder | None = None,
        weights: ScoringWeights | None = None,
        background: bool = True,
        fresh: bool = False,
        journal: str | Path | None = None,
    ) -> None:
        if path is None and host is None:
            raise ValueError("ChromaStore needs a path (embedded) or a host (server)")
        super().__init__(embedder, weights)
        if journal is None and host is None:
            journal = Path(path) / "journal"
        self._journal = Journal(journal, fresh=fresh) if journal is not None else None
        spec = {
            "path": str(path) if path is not None else None,
            "host": host,
            "port": port,
            "collection": collection,
            "embedder": self.embedder.name,
            "precision": getattr(self.embedder, "precision", "auto"),
            "dim": self.embedder.dim,
            "fresh": fresh,
            "journal": str(journal) if journal is not None else None,
        }
        self._chroma = _Background(spec) if background else _Inline(spec)
        if self._journal is not None:
            if self._journal.count > applied_count(journal):
                self._chroma.call("replay")  # what an earlier process left to the journal
            self._journal.clear()  # Chroma has every batch
        self._dirty: dict[str, MemoryRecord] = {}
        self._seq = self._chroma.call("count")
        self._fresh = self._seq == 0
        self._closed = False

    def owners(self) -> list[str]:
        """Every owner with records in the collection."""
        self.sync()
        return self._chroma.call("owners")

    def sync(self) -> None:
        """Make every write durable: in the journal on disk (Chroma applies it behind the
        run) or, without a journal, applied by Chroma. Raises a write Chroma failed."""
        self.flush()
        if self._journal is None:
            self._chroma.call("sync")
            return
        self._journal.sync()
        self._chroma.check()

    def flush(self) -> None:
        """Send queued metadata changes (access times, forgotten marks) without waiting."""
        if self._dirty:
            records = list(self._dirty.values())
            self._dirty.clear()
            changes = [
                {"last_access": r.last_access, "forgotten": r.forgotten, "importance": r.importance}
                for r in records
            ]
            self._write("update", [r.id for r in records], changes)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.sync()
        finally:
            self._chroma.close(promptly=self._journal is not None)
            if self._journal is not None:
                self._journal.close()
                if applied_count(self._journal.folder) >= self._journal.count:
                    self._journal.clear()
            super().close()

    def _added(self, records: Sequence[MemoryRecord], vectors: np.ndarray) -> None:
        metas = [_meta(r, self._seq + i) for i, r in enumerate(records)]
        self._seq += len(records)
        vectors = np.asarray(vectors, dtype=np.float32)
        self._write("add", [r.id for r in records], metas, vectors, [r.text for r in records])

    def _write(
        self,
        op: str,
        ids: list[str],
        metas: list[dict[str, Any]],
        vectors: np.ndarray | None = None,
        texts: list[str] | None = None,
    ) -> None:
        """Journal a write and send Chroma where it lies or, without a journal, send it
        whole. A writer that has died refuses the write before the journal promises it."""
        if self._journal is None:
            self._chroma.submit("apply", -1, op, ids, metas, vectors, texts)
            return
        self._chroma.check()
        self._chroma.submit("apply_logged", self._journal.append(op, ids, metas, vectors, texts))

    def _changed(self, records: Sequence[MemoryRecord], now: int | None) -> None:
        for r in records:
            self._dirty[r.id] = r if now is None else replace(r, last_access=now)

    def _ensure_loaded(self, owners: list[str]) -> None:
        """Rebuild the hot index of owners stored by an earlier process, in one query."""
        if self._fresh:
            return
        missing = [o for o in owners if o not in self._owners]
        if not missing:
            return
        got = self._chroma.call("load", missing)
        order = np.argsort([m["seq"] for m in got["metadatas"]], kind="stable")
        by_owner: dict[str, list[int]] = {o: [] for o in missing}
        for i in order:
            by_owner[got["metadatas"][i]["owner"]].append(int(i))
        for owner, rows in by_owner.items():
            index = self._index(owner)
            if rows:
                recs = [
                    _record(got["ids"][i], got["documents"][i], got["metadatas"][i]) for i in rows
                ]
                index.extend(recs, got["embeddings"][rows])
                self._ids.update(r.id for r in recs)
