"""Agent memory: records, scoring, embedders, stores and the memory stream.

Knows nothing about agents: owners are ids.
"""

from memory.embedders import Embedder, HashingEmbedder, MiniLMEmbedder, make_embedder
from memory.in_memory import InMemoryStore
from memory.records import MemoryKind, MemoryRecord, ScoredMemory
from memory.scoring import (
    ForgettingConfig,
    ScoringWeights,
    recency,
    relevance,
    retention,
    retrieval_score,
)
from memory.store import MemoryStore
from memory.stream import MemoryStream, StreamConfig

__all__ = [
    "Embedder",
    "ForgettingConfig",
    "HashingEmbedder",
    "InMemoryStore",
    "MemoryKind",
    "MemoryRecord",
    "MemoryStore",
    "MemoryStream",
    "MiniLMEmbedder",
    "ScoredMemory",
    "ScoringWeights",
    "StreamConfig",
    "make_embedder",
    "recency",
    "relevance",
    "retention",
    "retrieval_score",
]
