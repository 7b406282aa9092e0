"""Browse a page: watch some items, rate them, say how it felt, go on or leave.

Ratings are answered in 1-5 stars, remembered so, and logged on the dataset's own scale.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, create_model

from agents.actions.base import PageObservation, PageOutcome
from agents.domain import FILMS, Domain
from agents.importance import watch_importance
from agents.prompts import PROMPTS, page_messages
from memory.records import MemoryKind, MemoryRecord
from simulator.ratings import RatingScale, logged
from simulator.types import Interaction, LLMRequest, LLMResponse, Reaction

if TYPE_CHECKING:
    from agents.user import UserAgent


class Pick(BaseModel):
    """One watched item. ``position`` is bounded per page size by ``page_schema``."""

    position: int = Field(ge=1)
    rating: int = Field(ge=1, le=5)
    reason: str = Field(max_length=160)


@lru_cache(maxsize=32)
def page_schema(page_size: int) -> type[BaseModel]:
    """The output schema for a page of ``page_size`` items.

    Built per page size so a grammar-constrained backend cannot name a position off the
    page; cached so the class (and its cache key) is the same object every step.
    """
    bounded_pick = create_model(
        f"Pick{page_size}", __base__=Pick, position=(int, Field(ge=1, le=page_size))
    )
    return create_model(
        f"PageDecision{page_size}",
        watched=(list[bounded_pick], Field(max_length=page_size)),
        feeling=(str, Field(max_length=160)),
        next_page=(bool, ...),
    )


class BrowseAction:
    """One structured request per agent-page; the answer becomes exposures and memories.

    Args:
        domain: The dataset's words ("films", "watch") for the prompt and memories.
        scale: The dataset's rating scale, which logged ratings are put on; None logs
            the stars (data without ratings).
    """

    name = "browse"

    def __init__(self, *, domain: Domain = FILMS, scale: RatingScale | None = None) -> None:
        self.domain = domain
        self.scale = scale

    def request(self, agent: UserAgent, observation: PageObservation) -> LLMRequest:
        messages = page_messages(PROMPTS["browse"], agent.profile, observation, domain=self.domain)
        return LLMRequest(
            messages=messages,
            schema=page_schema(len(observation.items)),
            max_tokens=96 + 48 * len(observation.items),
            tag=self.name,
        )

    def apply(
        self, agent: UserAgent, observation: PageObservation, response: LLMResponse
    ) -> PageOutcome:
        """Turn the decision into one row per exposed item; a failed answer ends the visit."""
        decision = response.parsed
        picks = {}
        if decision is not None:
            for pick in decision.watched:  # type: ignore[attr-defined]
                picks.setdefault(pick.position, pick)
        feeling = decision.feeling if decision is not None else ""  # type: ignore[attr-defined]
        rows: list[Interaction] = []
        memories: list[MemoryRecord] = []
        for position, item in enumerate(observation.items, 1):
            pick = picks.get(position)
            rows.append(
                Interaction(
                    step=observation.step,
                    user_id=agent.user_id,
                    item_id=item.item_id,
                    page=observation.page,
                    position=position,
                    recommender=observation.recommender,
                    action=(
                        Reaction.FAILED
                        if decision is None
                        else Reaction.WATCH
                        if pick
                        else Reaction.SKIP
                    ),
                    rating=logged(pick.rating, self.scale) if pick else None,
                    reason=pick.reason if pick else "",
                    feeling=feeling,
                )
            )
            agent.seen.add(item.item_id)
            if pick:
                text = f'I {self.domain.consumed} "{item.title}", {pick.rating}/5: {pick.reason}'
                importance = watch_importance(pick.rating)
                memories.append(agent.remember(text, observation.step, importance))
        if feeling:
            text = f"Browsing recommendations made me feel: {feeling}"
            memories.append(agent.remember(text, observation.step, 0.2, MemoryKind.FEELING))
        return PageOutcome(
            interactions=rows,
            memories=memories,
            next_page=bool(decision is not None and decision.next_page),  # type: ignore[attr-defined]
            failed=decision is None,
            error=(response.error or "no valid answer") if decision is None else "",
        )
