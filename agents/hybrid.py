"""The hybrid policy: the utility model decides, the LLM takes only the uncertain pages.

A page goes to the LLM when the utility model's probability that the user watches
anything on it is near 0.5 (within ``band``), or when the page shows an item the model
knows nothing about (no interactions: a new item). Everything else keeps the utility
model's decision. Both parts are batched, so a round costs at most one LLM batch (plus
its follow-up).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.actions.base import PageObservation, PageOutcome
from agents.policy import LLMPolicy
from agents.profile import ItemProfile
from agents.user import UserAgent
from agents.utility import UtilityPolicy


def routes_to_llm(
    click_probability: np.ndarray | Sequence[float], cold: np.ndarray | Sequence[bool], band: float
) -> np.ndarray:
    """Which pages the LLM decides: an uncertain utility model, or an item it cannot judge.

    Args:
        click_probability: The utility model's probability of a watch on each page.
        cold: Whether each page shows an item with no interactions (zero popularity).
        band: Pages whose click probability is within ``band`` of 0.5 are uncertain.

    Returns:
        A boolean mask, one entry per page.
    """
    uncertain = np.abs(np.asarray(click_probability, dtype=np.float64) - 0.5) <= band
    return uncertain | np.asarray(cold, dtype=bool)


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

    def calibrate_ratings(
        self,
        agents: Sequence[UserAgent],
        examples: Sequence[tuple[UserAgent, ItemProfile]],
        target: Sequence[float] | None,
    ) -> None:
        """The LLM's rating corrections; the utility model's ratings are fitted already."""
        self.llm.calibrate_ratings(agents, examples, target)

    def decide(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[PageOutcome]:
        outcomes = self.utility.decide(agents, observations)
        if not outcomes:
            return outcomes
        model = self.utility.model
        cold = [
            any(model.popularity[model.item_index[it.item_id]] == 0 for it in obs.items)
            for obs in observations
        ]
        mask = routes_to_llm(self.utility.last_click_probability, cold, self.band)
        route = np.flatnonzero(mask).tolist()
        if route:
            answers = self.llm.decide([agents[i] for i in route], [observations[i] for i in route])
            for i, answer in zip(route, answers, strict=True):
                outcomes[i] = answer
        self.decided += len(observations)
        self.routed += len(route)
        return outcomes
