"""The action protocol: an action builds one request per agent and applies the answer.

Actions never call the LLM; the world (through a policy) gathers every agent's request of
a phase into one batch.
"""

from __future__ import annotations

from typing import Protocol

from agents.page import PageObservation, PageOutcome
from agents.user import UserAgent
from simulator.types import LLMRequest, LLMResponse

__all__ = ["Action", "PageObservation", "PageOutcome"]


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
