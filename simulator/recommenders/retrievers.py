"""The recommenders that rank the whole catalogue from the log: every re-ranker's base."""

from __future__ import annotations

from pydantic import ValidationError

from simulator.errors import ScenarioError
from simulator.recommenders.base import Recommender, RecommenderConfig
from simulator.recommenders.baselines import (
    MostPopularConfig,
    MostPopularRecommender,
    RandomConfig,
    RandomRecommender,
)
from simulator.recommenders.content import ContentConfig, ContentRecommender
from simulator.recommenders.implicit_mf import ALSConfig, ALSRecommender, BPRConfig, BPRRecommender
from simulator.recommenders.knn import ItemKNNConfig, ItemKNNRecommender
from simulator.recommenders.sasrec import SASRecConfig, SASRecRecommender

RETRIEVERS: dict[str, tuple[type, type[RecommenderConfig]]] = {
    "random": (RandomRecommender, RandomConfig),
    "most-popular": (MostPopularRecommender, MostPopularConfig),
    "item-knn": (ItemKNNRecommender, ItemKNNConfig),
    "als": (ALSRecommender, ALSConfig),
    "bpr": (BPRRecommender, BPRConfig),
    "content": (ContentRecommender, ContentConfig),
    "sasrec": (SASRecRecommender, SASRecConfig),
}


def build(
    table: dict[str, tuple[type, type[RecommenderConfig]]],
    name: str,
    params: dict | None,
    *,
    seed: int,
) -> Recommender:
    """``name`` from ``table``, its parameters validated into its config object.

    Raises:
        ScenarioError: A parameter its config rejects, named by its field.
    """
    cls, config_cls = table[name]
    try:
        config = config_cls(**(params or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(config_cls.model_fields) or "none"
            raise ScenarioError(
                f"recommender.params.{field}: {name} has no parameter {field!r}; "
                f"its parameters are {known}"
            ) from None
        if err["type"] == "missing":
            raise ScenarioError(
                f"recommender.params.{field}: {name} needs {field!r}; give it in its params"
            ) from None
        message = err["msg"].removeprefix("Value error, ")
        raise ScenarioError(
            f"recommender.params.{field}: {message} (got {err.get('input')!r})"
        ) from None
    return cls(config, seed=seed)


def make_retriever(name: str, params: dict | None = None, *, seed: int) -> Recommender:
    """A retriever by name, for a re-ranker's ``base``."""
    if name not in RETRIEVERS:
        raise ScenarioError(
            f"recommender.params.base: {name!r} is not a retriever; "
            f"choose one of {', '.join(sorted(RETRIEVERS))}"
        )
    return build(RETRIEVERS, name, params, seed=seed)
