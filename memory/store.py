"""The memory store protocol: batched writes and batched, per-owner retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from memory.embedders import Embedder
from memory.records import MemoryRecord, ScoredMemory
from memory.scoring import ForgettingConfig


@runtime_checkable
class MemoryStore(Protocol):
    embedder: Embedder

    def add(self, records: Sequence[MemoryRecord], vectors: np.ndarray | None = None) -> None:
        """Write many records at once; ``vectors`` when they are already embedded."""

    def search(
        self, owner_ids: Sequence[str], queries: Sequence[str], k: int, now: int
    ) -> list[list[ScoredMemory]]:
        """Best ``k`` records of each owner for the matching query; refreshes their access."""

    def records(self, owner: str) -> list[MemoryRecord]:
        """Every record of one owner, forgotten ones included, oldest first."""

    def forget(self, now: int, config: ForgettingConfig) -> int:
        """Mark records whose retention has faded; returns how many were marked."""

    def flush(self) -> None:
        """Hand queued writes to storage without waiting."""

    def sync(self) -> None:
        """Wait until every write is durable."""

    def close(self) -> None: ...
