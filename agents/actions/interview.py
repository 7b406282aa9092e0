"""Interview (RecAgent, Agent4Rec): after a visit, the user rates the recommender 1-10.

Two forms of the same question:

- ``request``/``apply``: JSON with a score from 1 to 10 and a reason.
- ``request_choice``/``apply_choice``: for backends with log-probabilities. Options must be
  single tokens, since vLLM and OpenAI-style servers score only the first answer token
  ("10" would share its first token with "1"). So the question asks for a digit from 0 to
  9, and the score is that digit plus one: the same ten-point scale as the JSON form,
  shifted, with no rescaling. The outcome keeps the whole distribution too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from agents.actions.pick import sample
from agents.domain import FILMS, Domain
from agents.profile import ItemProfile
from agents.prompts import PROMPTS, quote_items, render
from simulator.types import Event, Interaction, LLMRequest, LLMResponse, Reaction

if TYPE_CHECKING:
    from agents.user import UserAgent

DIGITS = tuple(str(d) for d in range(10))
"""The choice labels: digit ``d`` means score ``d + 1``."""


class Interview(BaseModel):
    """The user's verdict on the recommender after one visit."""

    score: int = Field(ge=1, le=10)
    reason: str = Field(max_length=160)


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """What a user did in one visit, as the interview question recalls it.

    Attributes:
        step: The step of the visit.
        pages: Pages seen.
        watched: ``(item, rating)`` per watched item, in order; rating ``None`` if unrated.
        skipped: Items shown and not watched.
        top: The highest rating of the scale the ratings are on (5 for stars).
    """

    step: int
    pages: int
    watched: tuple[tuple[ItemProfile, float | None], ...] = ()
    skipped: int = 0
    top: float = 5.0

    @classmethod
    def from_interactions(
        cls, rows: Sequence[Interaction], items: Mapping[str, ItemProfile], top: float = 5.0
    ) -> VisitSummary:
        """Summarise one user's exposure rows of one visit (the world already has them),
        rated on a scale whose highest rating is ``top``."""
        if not rows:
            raise ValueError("a visit summary needs the visit's rows; the user saw no page")
        watched = tuple((items[r.item_id], r.rating) for r in rows if r.action is Reaction.WATCH)
        skipped = sum(r.action is Reaction.SKIP for r in rows)
        return cls(rows[0].step, len({r.page for r in rows}), watched, skipped, top)

    def describe(self, domain: Domain = FILMS) -> str:
        """The visit in a few lines, in the domain's words; titles are fenced as data."""
        shown = len(self.watched) + self.skipped
        page_word = "page" if self.pages == 1 else "pages"
        lines = [
            f"You looked at {self.pages} {page_word} of recommendations ({shown} items), "
            f"{domain.consumed} {len(self.watched)} and skipped {self.skipped}."
        ]
        if self.watched:
            notes = [
                f"you rated it {rating:g}/{self.top:g}" if rating is not None else "not rated"
                for _, rating in self.watched
            ]
            lines.append(
                f"What you {domain.consumed}:\n" + quote_items([i for i, _ in self.watched], notes)
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class InterviewOutcome:
    """The interview's answer.

    Attributes:
        score: 1 (useless) to 10 (excellent); ``None`` when the answer failed.
        reason: The user's reason (empty for the choice form).
        probs: The choice form's distribution over scores 1-10; ``None`` for JSON.
    """

    user_id: str
    step: int
    score: int | None
    reason: str = ""
    probs: dict[int, float] | None = None

    @property
    def expected(self) -> float | None:
        """The mean score under ``probs``: a smoother signal than the sampled score."""
        if self.probs is None:
            return None
        return sum(score * p for score, p in self.probs.items())

    def events(self) -> list[Event]:
        """One event-log row; ``value`` is the score (``None`` if the answer failed)."""
        value = None if self.score is None else float(self.score)
        return [Event(self.step, "interview", self.user_id, "", value, self.reason)]


class InterviewAction:
    """Ask every visitor of a step the same question, as one batch.

    Args:
        domain: The dataset's words ("watched") for the visit's summary.
    """

    name = "interview"

    def __init__(self, *, domain: Domain = FILMS) -> None:
        self.domain = domain

    def request(self, agent: UserAgent, visit: VisitSummary) -> LLMRequest:
        """The JSON form: a 1-10 score and a reason."""
        messages = render(
            PROMPTS["interview"],
            persona=agent.profile.describe(),
            visit=visit.describe(self.domain),
        )
        return LLMRequest(messages=messages, schema=Interview, max_tokens=96, tag=self.name)

    def apply(
        self, agent: UserAgent, visit: VisitSummary, response: LLMResponse
    ) -> InterviewOutcome:
        """The verdict, or a ``None`` score when the answer did not validate."""
        verdict = response.parsed
        if not isinstance(verdict, Interview):
            return InterviewOutcome(agent.user_id, visit.step, None)
        return InterviewOutcome(agent.user_id, visit.step, verdict.score, verdict.reason)

    def request_choice(self, agent: UserAgent, visit: VisitSummary) -> LLMRequest:
        """The choice form: one digit 0-9, each option a single token (see module doc)."""
        messages = render(
            PROMPTS["interview_choice"],
            persona=agent.profile.describe(),
            visit=visit.describe(self.domain),
        )
        return LLMRequest(messages=messages, choices=DIGITS, tag=self.name)

    def apply_choice(
        self, agent: UserAgent, visit: VisitSummary, response: LLMResponse, draw: float
    ) -> InterviewOutcome:
        """Sample the digit with the world's ``draw``; the score is that digit plus one."""
        if not response.choice_probs:
            return InterviewOutcome(agent.user_id, visit.step, None)
        probs = {int(d) + 1: float(response.choice_probs.get(d, 0.0)) for d in DIGITS}
        score = int(sample(response.choice_probs, draw)) + 1
        return InterviewOutcome(agent.user_id, visit.step, score, "", probs)
