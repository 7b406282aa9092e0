"""The hybrid policy: the utility model decides, the LLM takes only the uncertain pages.

A page goes to the LLM when the utility model's probability that the user watches
anything on it is near 0.5 (within ``band``), or when the page shows an item the model
knows nothing about (no interactions: a new item). Everything else keeps the utility
model's decision. Both parts are batched, so a round costs at most one LLM batch (plus
its follow-up).
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.actions.base import PageObservation, PageOutcome
from agents.policy import LLMPolicy
from agents.user import UserAgent
from agents.utility import UtilityPolicy


class HybridPolicy:
    """Utility decisions, with uncertain or cold-item pages routed to the LLM.

    Attributes:
        decided: Pages decided so far.
        routed: Pages of those sent to the LLM; ``routed_share`` is their share.
    """

    name = "hybrid"

    def __init__(self, utility: UtilityPolicy, llm: LLMPolicy, *, band: float = 0.15) -> None:
        self.utility = utility
        self.llm = llm
        self.band = band
        self.decided = 0
        self.routed = 0

    @property
    def routed_share(self) -> float:
        return self.routed / self.decided if self.decided else 0.0

    def decide(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[PageOutcome]:
        outcomes = self.utility.decide(agents, observations)
        probability = self.utility.last_click_probability
        model = self.utility.model
        route = [
            i
            for i, obs in enumerate(observations)
            if abs(float(probability[i]) - 0.5) <= self.band
            or any(model.popularity[model.item_index[it.item_id]] == 0 for it in obs.items)
        ]
        if route:
            answers = self.llm.decide([agents[i] for i in route], [observations[i] for i in route])
            for i, answer in zip(route, answers, strict=True):
                outcomes[i] = answer
        self.decided += len(observations)
        self.routed += len(route)
        return outcomes
