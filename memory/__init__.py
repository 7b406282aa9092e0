"""Agent memory: records, scoring, embedders and stores. Knows nothing about agents."""

from memory.embedders import Embedder, HashingEmbedder
from memory.in_memory import InMemoryStore
from memory.records import MemoryKind, MemoryRecord, ScoredMemory
from memory.scoring import ScoringWeights, recency, relevance, retrieval_score
from memory.store import MemoryStore

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "InMemoryStore",
    "MemoryKind",
    "MemoryRecord",
    "MemoryStore",
    "ScoredMemory",
    "ScoringWeights",
    "recency",
    "relevance",
    "retrieval_score",
]
