"""Memory records: the values every store keeps, whatever its backend."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MemoryKind(StrEnum):
    OBSERVATION = "observation"
    FEELING = "feeling"
    REFLECTION = "reflection"
    INSIGHT = "insight"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One memory of one owner (a user or an item agent).

    Attributes:
        id: Unique within the store; stable across restarts.
        owner: The agent id the memory belongs to.
        created: The step it was written.
        last_access: The step it was last written or retrieved.
        importance: 0 (trivial) to 1 (defining).
        evidence: Ids of the records a reflection or insight was drawn from.
        forgotten: Decayed out of retrieval; kept for audit, never deleted.
    """

    id: str
    owner: str
    text: str
    kind: MemoryKind = MemoryKind.OBSERVATION
    created: int = 0
    last_access: int = 0
    importance: float = 0.5
    evidence: tuple[str, ...] = ()
    forgotten: bool = False


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    """A retrieved record with the parts of its score, for prompts and ``memory show``."""

    record: MemoryRecord
    score: float
    recency: float
    importance: float
    relevance: float
