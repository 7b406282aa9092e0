"""The action protocol: an action builds one request per agent and applies the answer.

Actions never call the LLM; the world (through a policy) gathers every agent's request of
a phase into one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agents.profile import ItemProfile
from agents.user import UserAgent
from memory.records import MemoryRecord, ScoredMemory
from simulator.types import Interaction, LLMRequest, LLMResponse, Reaction


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
    """A second question in the same page round (say, a rating); ``resolve`` applies it."""

    @property
    def watched(self) -> int:
        return sum(r.action is Reaction.WATCH for r in self.interactions)


class Action(Protocol):
    name: str

    def request(self, agent: UserAgent, observation: PageObservation) -> LLMRequest: ...

    def apply(
        self, agent: UserAgent, observation: PageObservation, response: LLMResponse
    ) -> PageOutcome: ...

    def resolve(
        self,
        agent: UserAgent,
        observation: PageObservation,
        outcome: PageOutcome,
        response: LLMResponse,
    ) -> PageOutcome:
        """Apply the answer to ``outcome.follow_up``; only actions that ask one need it."""
        ...
