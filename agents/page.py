"""One page of a visit: what the user sees, and what their decision did.

Plain values, below the prompts and the actions that both read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.profile import ItemProfile
from memory.records import MemoryRecord, ScoredMemory
from simulator.types import Interaction, LLMRequest, Reaction

POSITION_BIAS = 0.3
"""Utility lost per doubling of the slot, by default: users look at lower slots less."""


def slot_utilities(k: int, bias: float = POSITION_BIAS) -> np.ndarray:
    """Utility added in slots 1..k: 0 in slot 1, then falling by ``bias`` per doubling."""
    return -bias * np.log2(np.arange(1, k + 1, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class PageObservation:
    """What a user sees on one page of a visit."""

    step: int
    page: int
    items: tuple[ItemProfile, ...]
    recommender: str
    memories: tuple[ScoredMemory, ...] = ()
    draws: tuple[float, ...] = ()
    """Uniform numbers from the world's seeded stream, for sampling scored choices."""


@dataclass(slots=True)
class PageOutcome:
    """What one page did: exposures, new memories, and whether the visit goes on."""

    interactions: list[Interaction]
    memories: list[MemoryRecord] = field(default_factory=list)
    next_page: bool = False
    failed: bool = False
    follow_up: LLMRequest | None = None
    error: str = ""
    """Why the page failed (the model's or the server's error), for the event log."""
    """A second question in the same page round (say, a rating); ``resolve`` applies it."""

    @property
    def watched(self) -> int:
        return sum(r.action is Reaction.WATCH for r in self.interactions)
