"""Policies decide for many agents at once; ``LLMPolicy`` asks the LLM in one batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from agents.actions.base import Action, PageObservation, PageOutcome
from agents.actions.pick import PickAction
from agents.profile import ItemProfile
from agents.user import UserAgent
from simulator.types import LLM, LLMRequest, LLMResponse


class Policy(Protocol):
    def decide(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[PageOutcome]:
        """One decision per agent, in order; at most one LLM batch per call."""


@runtime_checkable
class AskedInOrders(Protocol):
    """An action that asks each page several times (under several orders of its items) and
    combines the answers into one, as ``PickAction`` does to cancel position bias."""

    def requests(self, agent: UserAgent, observation: PageObservation) -> list[LLMRequest]: ...

    def combine(
        self, observation: PageObservation, responses: Sequence[LLMResponse]
    ) -> LLMResponse: ...


@runtime_checkable
class CalibratesRatings(Protocol):
    """A policy whose ratings can be fitted to the data's at world start (one batch)."""

    def calibrate_ratings(
        self,
        agents: Sequence[UserAgent],
        examples: Sequence[tuple[UserAgent, ItemProfile]],
        target: Sequence[float] | None,
        page_size: int | None = None,
    ) -> None: ...


class LLMPolicy:
    """Every agent's browse request goes into a single ``llm.generate`` call.

    Args:
        llm: The batched model.
        browse: The action that turns a page into a request and the answer into an outcome:
            ``PickAction`` for scored choices, ``BrowseAction`` for one JSON answer per page.
    """

    name = "llm"

    def __init__(self, llm: LLM, browse: Action) -> None:
        self.llm = llm
        self.browse = browse

    def decide(
        self,
        agents: Sequence[UserAgent],
        observations: Sequence[PageObservation],
        *,
        adjust: Callable[[list[LLMResponse]], list[LLMResponse]] | None = None,
    ) -> list[PageOutcome]:
        """One decision per agent from one batch (plus one batch of follow-ups).

        Args:
            agents: The deciding agents.
            observations: Their pages, in the same order.
            adjust: Changes the batch's answers before they become decisions (the hybrid
                policy pools them with the taste core's prior).
        """
        action = self.browse
        responses = self._ask(agents, observations)
        if adjust is not None:
            responses = adjust(responses)
        outcomes = [
            action.apply(agent, obs, response)
            for agent, obs, response in zip(agents, observations, responses, strict=True)
        ]
        # Follow-up questions (a rating after a pick) of every agent go in one more batch.
        pending = [i for i, o in enumerate(outcomes) if o.follow_up is not None]
        if pending:
            answers = self.llm.generate([outcomes[i].follow_up for i in pending])
            for i, answer in zip(pending, answers, strict=True):
                outcomes[i] = action.resolve(agents[i], observations[i], outcomes[i], answer)
        return outcomes

    def calibrate_ratings(
        self,
        agents: Sequence[UserAgent],
        examples: Sequence[tuple[UserAgent, ItemProfile]],
        target: Sequence[float] | None,
        page_size: int | None = None,
    ) -> None:
        """The browse action's rating and pick corrections (``PickAction.calibrate_ratings``),
        when it asks scored choices; JSON answers have none to fit."""
        if isinstance(self.browse, PickAction):
            self.browse.calibrate_ratings(self.llm, agents, examples, target, page_size)

    def _ask(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[LLMResponse]:
        """Every agent's page in one batch; all orders of all pages when the action asks
        several, combined back into one answer per agent."""
        action = self.browse
        pairs = list(zip(agents, observations, strict=True))
        if not isinstance(action, AskedInOrders):
            return self.llm.generate([action.request(agent, obs) for agent, obs in pairs])
        asked = [action.requests(agent, obs) for agent, obs in pairs]
        flat = self.llm.generate([r for requests in asked for r in requests])
        out, start = [], 0
        for (_, obs), requests in zip(pairs, asked, strict=True):
            out.append(action.combine(obs, flat[start : start + len(requests)]))
            start += len(requests)
        return out
