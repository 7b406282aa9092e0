"""Build a recommender from its scenario name and parameters."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from simulator.errors import ScenarioError
from simulator.recommenders.base import Recommender
from simulator.recommenders.baselines import (
    MostPopularConfig,
    MostPopularRecommender,
    RandomConfig,
    RandomRecommender,
)

RECOMMENDERS: dict[str, tuple[type, type]] = {
    "random": (RandomRecommender, RandomConfig),
    "most-popular": (MostPopularRecommender, MostPopularConfig),
}


def _register_rerankers() -> None:
    # Imported here: MMR itself builds its base recommender through this registry.
    from simulator.recommenders.mmr import MMRConfig, MMRRecommender

    RECOMMENDERS["mmr"] = (MMRRecommender, MMRConfig)


_register_rerankers()


def make_recommender(name: str, params: dict[str, Any] | None = None, *, seed: int) -> Recommender:
    """Create a built-in recommender; bad names and parameters get a field-level error."""
    if name not in RECOMMENDERS:
        raise ScenarioError(
            f"recommender.name: unknown recommender {name!r}; "
            f"choose one of {', '.join(sorted(RECOMMENDERS))}"
        )
    cls, config_cls = RECOMMENDERS[name]
    try:
        config = config_cls(**(params or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(f"recommender.params.{field}: {err['msg']}") from None
    return cls(config, seed=seed)
