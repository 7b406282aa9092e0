"""Browse a page by scored choices: which item (or none), then a 1-5 rating.

For backends that expose log-probabilities (transformers, smollm2, vLLM): each answer is a
probability per option, sampled with the world's seeded draws, so it never fails to parse
and costs one forward pass instead of a generated JSON object. A pick is followed by a
rating question in the same page round; both are one batch across agents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.actions.base import PageObservation, PageOutcome
from agents.importance import NOTHING_APPEALED_IMPORTANCE, watch_importance
from agents.prompts import PROMPTS, page_messages, render
from simulator.types import Interaction, LLMRequest, LLMResponse, Reaction

if TYPE_CHECKING:
    from agents.user import UserAgent

RATINGS = ("1", "2", "3", "4", "5")
FATIGUE = 0.8


def sample(probs: dict[str, float], draw: float) -> str:
    """Inverse-CDF sampling: the same draw and probabilities always give the same option."""
    total = 0.0
    for option, p in probs.items():
        total += p
        if draw < total:
            return option
    return next(reversed(probs))


class PickAction:
    """One choice request per agent-page, and one rating request per pick."""

    name = "browse"

    def request(self, agent: UserAgent, observation: PageObservation) -> LLMRequest:
        if len(observation.items) > 9:
            raise ValueError(
                f"the pick action labels items 1-9 so each option is one token; got a page of "
                f"{len(observation.items)}: set slate_size to 9 or less"
            )
        messages = page_messages(PROMPTS["pick"], agent.profile, observation)
        return LLMRequest(
            messages=messages,
            choices=tuple(str(i) for i in range(len(observation.items) + 1)),
            tag="browse",
        )

    def apply(
        self, agent: UserAgent, observation: PageObservation, response: LLMResponse
    ) -> PageOutcome:
        rows = [
            _row(agent, observation, position, Reaction.SKIP)
            for position in range(1, len(observation.items) + 1)
        ]
        for item in observation.items:
            agent.seen.add(item.item_id)
        if response.choice_probs is None:
            return PageOutcome(interactions=rows, failed=True)
        choice = int(sample(response.choice_probs, observation.draws[0]))
        if choice == 0:
            text = f"Nothing on page {observation.page} appealed to me."
            memory = agent.remember(text, observation.step, NOTHING_APPEALED_IMPORTANCE)
            return PageOutcome(interactions=rows, memories=[memory], next_page=False)
        item = observation.items[choice - 1]
        rows[choice - 1] = _row(
            agent,
            observation,
            choice,
            Reaction.WATCH,
            reason=f"picked with p={response.choice_probs[str(choice)]:.2f}",
        )
        follow_up = LLMRequest(
            messages=render(
                PROMPTS["rate"],
                persona=agent.profile.describe(short=True),
                item=f"<items>{item.describe()}</items>",
            ),
            choices=RATINGS,
            tag="rate",
        )
        return PageOutcome(interactions=rows, follow_up=follow_up)

    def resolve(
        self,
        agent: UserAgent,
        observation: PageObservation,
        outcome: PageOutcome,
        response: LLMResponse,
    ) -> PageOutcome:
        """Record the rating; a satisfied user (3 or more) may go on to the next page.

        Fatigue: the chance to go on falls by ``FATIGUE`` with every page already seen.
        """
        rows = list(outcome.interactions)
        i, watched = next((i, r) for i, r in enumerate(rows) if r.action is Reaction.WATCH)
        if response.choice_probs is None:
            return PageOutcome(interactions=rows, failed=True)
        rating = int(sample(response.choice_probs, observation.draws[1]))
        rows[i] = _row(
            agent,
            observation,
            watched.position,
            Reaction.WATCH,
            rating=float(rating),
            reason=watched.reason,
        )
        title = observation.items[watched.position - 1].title
        memory = agent.remember(
            f'I watched "{title}", {rating}/5', observation.step, watch_importance(rating)
        )
        fresh = FATIGUE ** (observation.page - 1)
        go_on = rating >= 3 and (len(observation.draws) < 3 or observation.draws[2] < fresh)
        return PageOutcome(interactions=rows, memories=[memory], next_page=go_on)


def _row(
    agent: UserAgent,
    observation: PageObservation,
    position: int,
    action: Reaction,
    *,
    rating: float | None = None,
    reason: str = "",
) -> Interaction:
    return Interaction(
        step=observation.step,
        user_id=agent.user_id,
        item_id=observation.items[position - 1].item_id,
        page=observation.page,
        position=position,
        recommender=observation.recommender,
        action=action,
        rating=rating,
        reason=reason,
    )
