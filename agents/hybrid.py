"""The hybrid policy: the utility model decides, the LLM weighs in on the uncertain pages.

A page goes to the LLM when the utility model's probability that the user watches
anything on it is near 0.5 (within ``band``), or when the page shows an item the model
knows nothing about (no interactions: a new item). Everything else keeps the utility
model's decision. Both parts are batched, so a round costs at most one LLM batch (plus
its follow-up).

On a routed page the LLM's answer does not replace the taste core's: the two are pooled
(a logarithmic opinion pool, ``pooled``). The utility model's option probabilities are the
prior. The LLM's scored answer is the evidence, batch-calibrated first
(``agents.debias.batch_calibrated``, against the running mean of its answers in this run)
so that only how it leans on this page beyond its usual answer counts, and raised to
``llm_weight``: weight 0 keeps the prior, a large weight lets the LLM decide. An answer
without option probabilities (the JSON browse action) cannot be pooled and replaces the
prior, as a failed answer fails the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from agents.actions.base import PageObservation, PageOutcome
from agents.debias import AnswerMean, batch_calibrated
from agents.policy import LLMPolicy
from agents.profile import ItemProfile
from agents.user import UserAgent
from agents.utility import UtilityPolicy
from simulator.types import LLMResponse

LLM_WEIGHT = 1.0
"""Default exponent of the LLM's evidence: prior and answer each counted once."""


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


def pooled(
    prior: Mapping[str, float], evidence: Mapping[str, float] | None, weight: float
) -> dict[str, float]:
    """The logarithmic opinion pool: ``prior * evidence ** weight``, renormalised.

    Options are the prior's; one the evidence does not mention keeps the prior's odds.
    No evidence (None) leaves the prior as it is.
    """
    if evidence is None or weight == 0:
        return dict(prior)
    logs = {
        option: np.log(p) + weight * np.log(max(evidence.get(option, 1.0), 1e-12))
        for option, p in prior.items()
        if p > 0
    }
    top = max(logs.values())
    raw = {o: float(np.exp(logs[o] - top)) if o in logs else 0.0 for o in prior}
    total = sum(raw.values())
    return {option: value / total for option, value in raw.items()}


def pooled_yes(prior: np.ndarray, answers: np.ndarray, weight: float) -> np.ndarray:
    """P(yes) pooled from the taste core's ``prior`` and the LLM's ``answers`` (each
    batch-calibrated over ``answers``); a NaN answer leaves its prior."""
    asked = [None if np.isnan(a) else {"yes": float(a), "no": 1.0 - float(a)} for a in answers]
    evidence = batch_calibrated(asked)
    return np.array(
        [
            pooled({"yes": float(p), "no": 1.0 - float(p)}, e, weight)["yes"]
            for p, e in zip(prior, evidence, strict=True)
        ]
    )


class HybridPolicy:
    """Utility decisions, with uncertain or cold-item pages pooled with the LLM's answer.

    Attributes:
        decided: Pages decided so far.
        routed: Pages of those sent to the LLM; ``routed_share`` is their share.
    """

    name = "hybrid"

    def __init__(
        self,
        utility: UtilityPolicy,
        llm: LLMPolicy,
        *,
        band: float = 0.15,
        llm_weight: float = LLM_WEIGHT,
    ) -> None:
        if llm_weight < 0:
            raise ValueError(f"llm_weight must be at least 0, got {llm_weight}")
        self.utility = utility
        self.llm = llm
        self.band = band
        self.llm_weight = llm_weight
        self.answers = AnswerMean()
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
        page_size: int | None = None,
    ) -> None:
        """The LLM's rating and pick corrections; the utility model's are fitted already."""
        self.llm.calibrate_ratings(agents, examples, target, page_size)

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
        options = self.utility.last_options
        route = np.flatnonzero(routes_to_llm(1.0 - options[:, 0], cold, self.band)).tolist()
        if route:
            priors = [
                {str(o): float(options[i, o]) for o in range(len(observations[i].items) + 1)}
                for i in route
            ]
            answers = self.llm.decide(
                [agents[i] for i in route],
                [observations[i] for i in route],
                adjust=lambda responses: self._pool(priors, responses),
            )
            for i, answer in zip(route, answers, strict=True):
                outcomes[i] = answer
        self.decided += len(observations)
        self.routed += len(route)
        return outcomes

    def _pool(
        self, priors: Sequence[Mapping[str, float]], responses: list[LLMResponse]
    ) -> list[LLMResponse]:
        """Each scored answer pooled with its page's prior; other answers pass unchanged."""
        evidence = batch_calibrated([r.choice_probs for r in responses], self.answers)
        out = []
        for prior, response, calibrated in zip(priors, responses, evidence, strict=True):
            if calibrated is None:
                out.append(response)
                continue
            probs = pooled(prior, calibrated, self.llm_weight)
            out.append(replace(response, choice_probs=probs, text=max(probs, key=probs.get)))
        return out
