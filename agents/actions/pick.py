"""Browse a page by scored choices: which item (or none), then a 1-5 rating.

For backends that expose log-probabilities (transformers, smollm2, vLLM): each answer is a
probability per option, sampled with the world's seeded draws, so it never fails to parse
and costs one forward pass instead of a generated JSON object. A pick is followed by a
rating question in the same page round; both are one batch across agents.

Small models favour the first options of a list, so each page is asked under ``orders``
evenly spaced cyclic shifts of its items (all in the same batch) and the answers are
averaged back onto the items (``agents.debias``). Two orders move a strong habit (say,
for "1") onto the items they show first rather than remove it, so at start the page
question is also asked about a page of content-free items (``pick_prior``): its answer,
among the item numbers, is divided out of every answer, the chance of picking nothing left
as the model gave it. With that habit gone the model's pick has no slot effect of its own,
and the items' shares are weighted by the slot as the utility model weighs them
(``position_bias``, utility lost per doubling of the slot): real users look at lower slots
less. A content-free distribution for the rating question (``rate_prior``) is divided out
of every rating answer, and a monotone map (``rating_map``) then moves the answers onto the
data's share of each star; the world asks for all three once, at start, with
``calibrate_ratings``. The star is what the user remembers; the log gets its level on the
dataset's own scale (``scale``), where 1 and 5 stars are the scale's ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from agents.actions.base import PageObservation, PageOutcome
from agents.debias import (
    CONTENT_FREE_TITLE,
    FLOOR,
    average_over_orders,
    calibrated,
    mean_distribution,
    monotone_map,
    remapped,
    shifted_orders,
)
from agents.domain import FILMS, Domain
from agents.importance import NOTHING_APPEALED_IMPORTANCE, watch_importance
from agents.page import POSITION_BIAS, slot_utilities
from agents.profile import ItemProfile
from agents.prompts import PROMPTS, domain_words, page_messages, render
from simulator.ratings import RatingScale, logged
from simulator.types import LLM, Interaction, LLMRequest, LLMResponse, Reaction

if TYPE_CHECKING:
    from agents.user import UserAgent

RATINGS = ("1", "2", "3", "4", "5")
FATIGUE = 0.8
ORDERS = 2
"""Orders each page is asked in: the page as shown and its half-way cyclic shift."""


def sample(probs: dict[str, float], draw: float) -> str:
    """Inverse-CDF sampling: the same draw and probabilities always give the same option."""
    total = 0.0
    for option, p in probs.items():
        total += p
        if draw < total:
            return option
    return next(reversed(probs))


class PickAction:
    """``orders`` choice requests per agent-page, and one rating request per pick.

    Args:
        domain: The dataset's words ("films", "watch") for the prompts and memories.
        orders: Orders each page is asked in; 1 asks the page as shown only.
        rate_prior: The rating question's answer distribution for a content-free item,
            divided out of every rating answer (contextual calibration); None leaves
            answers as they are.
        rating_map: A ``monotone_map`` over ``RATINGS`` applied after that division.
        pick_prior: The page question's answer about a page of content-free items, over
            the item numbers ("1", "2", ...); divided out of every pick, after which the
            slot weights of ``position_bias`` apply. None leaves picks as the model gave
            them.
        position_bias: Utility lost per doubling of the slot, once ``pick_prior`` is set.
        scale: The dataset's rating scale, which logged ratings are put on; None logs
            the stars (data without ratings).
    """

    name = "browse"

    def __init__(
        self,
        *,
        domain: Domain = FILMS,
        orders: int = ORDERS,
        rate_prior: Mapping[str, float] | None = None,
        rating_map: list[list[float]] | None = None,
        pick_prior: Mapping[str, float] | None = None,
        position_bias: float = POSITION_BIAS,
        scale: RatingScale | None = None,
    ) -> None:
        if orders < 1:
            raise ValueError(f"orders must be at least 1, got {orders}")
        self.domain = domain
        self.orders = orders
        self.rate_prior = dict(rate_prior) if rate_prior is not None else None
        self.rating_map = rating_map
        self.pick_prior = dict(pick_prior) if pick_prior is not None else None
        self.position_bias = position_bias
        self.scale = scale

    def requests(self, agent: UserAgent, observation: PageObservation) -> list[LLMRequest]:
        """The page under each of its orders; ``combine`` averages the answers."""
        n = len(observation.items)
        if n > 9:
            raise ValueError(
                f"the pick action labels items 1-9 so each option is one token; got a page of "
                f"{n}: set slate_size to 9 or less"
            )
        choices = tuple(str(i) for i in range(n + 1))
        return [
            LLMRequest(
                messages=page_messages(
                    PROMPTS["pick"],
                    agent.profile,
                    observation,
                    domain=self.domain,
                    items=[observation.items[i] for i in order],
                ),
                choices=choices,
                tag="browse",
            )
            for order in shifted_orders(n, self.orders)
        ]

    def request(self, agent: UserAgent, observation: PageObservation) -> LLMRequest:
        """The page as shown only (the first of ``requests``)."""
        return self.requests(agent, observation)[0]

    def combine(
        self, observation: PageObservation, responses: Sequence[LLMResponse]
    ) -> LLMResponse:
        """One answer keyed by the page's own numbers: each order's answer mapped back to
        the items it showed, then averaged. Any failed answer fails the page."""
        n = len(observation.items)
        failed = next((r for r in responses if r.choice_probs is None), None)
        if failed is not None:
            return failed
        labels = [str(i) for i in range(1, n + 1)]
        answers = [r.choice_probs or {} for r in responses]
        if self.pick_prior is not None:
            answers = [_divided(a, self.pick_prior, labels) for a in answers]
        probs = average_over_orders(answers, shifted_orders(n, self.orders), labels, fixed=("0",))
        if self.pick_prior is not None:
            slot = np.exp(slot_utilities(n, self.position_bias))
            probs = _items_rescaled(
                probs, {x: probs[x] * w for x, w in zip(labels, slot, strict=True)}
            )
        return LLMResponse(
            text=max(probs, key=probs.__getitem__),
            choice_probs=probs,
            cached=all(r.cached for r in responses),
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
            failed = [replace(r, action=Reaction.FAILED) for r in rows]
            return PageOutcome(interactions=failed, failed=True, error=response.error or "")
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
        return PageOutcome(interactions=rows, follow_up=self.rate_request(agent, item))

    def rate_request(self, agent: UserAgent, item: ItemProfile) -> LLMRequest:
        """The rating question about ``item``, asked after a pick."""
        return LLMRequest(
            messages=render(
                PROMPTS["rate"],
                persona=agent.profile.describe(short=True),
                item=f"<items>{item.describe()}</items>",
                **domain_words(self.domain),
            ),
            choices=RATINGS,
            tag="rate",
        )

    def calibrate_ratings(
        self,
        llm: LLM,
        agents: Sequence[UserAgent],
        examples: Sequence[tuple[UserAgent, ItemProfile]] = (),
        target: Sequence[float] | None = None,
        page_size: int | None = None,
    ) -> dict[str, float] | None:
        """Fit the rating corrections, and with ``page_size`` the pick's, in one batch.

        The rating question about a content-free item, for ``agents`` (a few are enough),
        gives ``rate_prior``. With ``target`` (the data's share of each of the five stars)
        and rated ``examples`` (agents with items from their own history), the mean of the
        examples' answers, the prior divided out, gives ``rating_map``: the monotone map
        onto ``target``. With ``page_size``, the page question about that many content-free
        items, for the same agents, gives ``pick_prior``. Returns the rating prior, or None
        (and leaves the rating corrections unchanged) when no content-free rating answer
        came back.
        """
        blank = ItemProfile(item_id="", title=CONTENT_FREE_TITLE)
        pages: list[LLMRequest] = []
        if page_size is not None and page_size > 1:
            page = PageObservation(step=0, page=1, items=(blank,) * page_size, recommender="")
            pages = [self.request(agent, page) for agent in agents]
        asked = [self.rate_request(agent, blank) for agent in agents]
        if target is not None:
            asked += [self.rate_request(agent, item) for agent, item in examples]
        answers = llm.generate(pages + asked)
        if pages:
            numbers = [c for c in pages[0].choices or () if c != "0"]
            pick_prior = mean_distribution([a.choice_probs for a in answers[: len(pages)]], numbers)
            if pick_prior is not None:
                self.pick_prior = pick_prior
            answers = answers[len(pages) :]
        prior = mean_distribution([a.choice_probs for a in answers[: len(agents)]], RATINGS)
        if prior is None:
            return None
        self.rate_prior = prior
        rated = [
            calibrated(a.choice_probs, prior) for a in answers[len(agents) :] if a.choice_probs
        ]
        source = mean_distribution(rated, RATINGS)
        if target is not None and source is not None:
            self.rating_map = monotone_map([source[r] for r in RATINGS], list(target))
        return prior

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
            return PageOutcome(interactions=rows, failed=True, error=response.error or "")
        probs = response.choice_probs
        if self.rate_prior is not None:
            probs = calibrated(probs, self.rate_prior)
        if self.rating_map is not None:
            probs = remapped(probs, self.rating_map, RATINGS)
        rating = int(sample(probs, observation.draws[1]))
        rows[i] = _row(
            agent,
            observation,
            watched.position,
            Reaction.WATCH,
            rating=logged(rating, self.scale),
            reason=watched.reason,
        )
        title = observation.items[watched.position - 1].title
        memory = agent.remember(
            f'I {self.domain.consumed} "{title}", {rating}/5',
            observation.step,
            watch_importance(rating),
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


def _divided(
    probs: Mapping[str, float], prior: Mapping[str, float], labels: Sequence[str]
) -> dict[str, float]:
    """The item numbers' probabilities divided by ``prior``, rescaled to the mass they had,
    so the chance of picking nothing stays the model's. Numbers the prior lacks (a page
    longer than the content-free one) are not divided."""
    weights = {x: probs.get(x, 0.0) / max(prior.get(x, 1.0), FLOOR) for x in labels}
    return _items_rescaled(probs, weights)


def _items_rescaled(probs: Mapping[str, float], weights: Mapping[str, float]) -> dict[str, float]:
    """``weights`` for the item numbers, scaled to the items' total mass in ``probs``; "0"
    (nothing) keeps its probability."""
    mass = sum(probs.get(x, 0.0) for x in weights)
    total = sum(weights.values())
    out = dict(probs)
    for x in weights:
        out[x] = mass * weights[x] / total if total > 0 else probs.get(x, 0.0)
    return out
