"""The memory store protocol: batched writes and batched, per-owner retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from memory.records import MemoryRecord, ScoredMemory


@runtime_checkable
class MemoryStore(Protocol):
    def add(self, records: Sequence[MemoryRecord]) -> None:
        """Write many records at once."""

    def search(
        self, owner_ids: Sequence[str], queries: Sequence[str], k: int, now: int
    ) -> list[list[ScoredMemory]]:
        """Best ``k`` records of each owner for the matching query; refreshes their access."""

    def records(self, owner: str) -> list[MemoryRecord]:
        """Every record of one owner, forgotten ones included, oldest first."""

    def close(self) -> None: ...
