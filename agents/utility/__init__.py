"""A RecSim-style choice model over embeddings and traits: the policy with no LLM.

It is the baseline every LLM policy is compared with, and the choice for runs too large
for any LLM: a whole phase is a few numpy operations over (agents × slate) matrices.

- ``params``: the weights (``UtilityParams``) and the constants features are built with;
- ``features``: the item and user matrices and the standardised affinity between them;
- ``choice``: the click, rating and exit models, and ``UtilityModel``, which decides
  many pages at once;
- ``policy``: ``UtilityPolicy``, the adapter from page observations to outcomes.

Agents may not import ``simulator``; ``simulator.calibration`` fits ``UtilityParams`` to a
real dataset.
"""

from agents.utility.choice import (
    PageDecisions,
    UtilityModel,
    choice_probabilities,
    continue_probability,
    rating_probabilities,
)
from agents.utility.features import FeatureArrays, Features, item_text, standardise
from agents.utility.params import (
    QUALITY_PRIOR,
    USER_PRIOR,
    UtilityParams,
    liked_rating,
)
from agents.utility.policy import UtilityPolicy

__all__ = [
    "QUALITY_PRIOR",
    "USER_PRIOR",
    "FeatureArrays",
    "Features",
    "PageDecisions",
    "UtilityModel",
    "UtilityParams",
    "UtilityPolicy",
    "choice_probabilities",
    "continue_probability",
    "item_text",
    "liked_rating",
    "rating_probabilities",
    "standardise",
]
