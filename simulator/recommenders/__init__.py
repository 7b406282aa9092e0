"""Built-in recommenders and the registry that builds them from a scenario."""

from simulator.recommenders.base import Recommender, RecommenderConfig, ScoringRecommender
from simulator.recommenders.baselines import (
    MostPopularConfig,
    MostPopularRecommender,
    RandomConfig,
    RandomRecommender,
)
from simulator.recommenders.registry import RECOMMENDERS, make_recommender

__all__ = [
    "RECOMMENDERS",
    "MostPopularConfig",
    "MostPopularRecommender",
    "RandomConfig",
    "RandomRecommender",
    "Recommender",
    "RecommenderConfig",
    "ScoringRecommender",
    "make_recommender",
]
