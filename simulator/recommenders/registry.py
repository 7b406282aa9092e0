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
    from simulator.recommenders.content import ContentConfig, ContentRecommender
    from simulator.recommenders.implicit_mf import (
        ALSConfig,
        ALSRecommender,
        BPRConfig,
        BPRRecommender,
    )
    from simulator.recommenders.knn import ItemKNNConfig, ItemKNNRecommender
    from simulator.recommenders.llm_rerank import AgentCFRanker, LLMRerankConfig, LLMReranker
    from simulator.recommenders.mmr import MMRConfig, MMRRecommender
    from simulator.recommenders.sasrec import SASRecConfig, SASRecRecommender

    RECOMMENDERS["item-knn"] = (ItemKNNRecommender, ItemKNNConfig)
    RECOMMENDERS["als"] = (ALSRecommender, ALSConfig)
    RECOMMENDERS["bpr"] = (BPRRecommender, BPRConfig)
    RECOMMENDERS["content"] = (ContentRecommender, ContentConfig)
    RECOMMENDERS["sasrec"] = (SASRecRecommender, SASRecConfig)

    RECOMMENDERS["mmr"] = (MMRRecommender, MMRConfig)
    RECOMMENDERS["llm-rerank"] = (LLMReranker, LLMRerankConfig)
    RECOMMENDERS["agentcf"] = (AgentCFRanker, LLMRerankConfig)


_register_rerankers()


def import_recommender(
    path: str, params: dict[str, Any] | None = None, *, seed: int
) -> Recommender:
    """Bring your own: ``pkg.module.Class``, built as ``Class(**params)`` (plus ``seed=`` when
    its constructor takes one), and checked against the ``Recommender`` protocol."""
    import importlib
    import inspect

    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ScenarioError(
            f"recommender.class: cannot import {path!r} ({exc}); give a module path such "
            "as mypkg.recs.MyRecommender, importable from where you run recworld"
        ) from None
    kwargs = dict(params or {})
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = seed
    try:
        rec = cls(**kwargs)
    except TypeError as exc:
        raise ScenarioError(f"recommender.params: {path} rejected them ({exc})") from None
    missing = [m for m in ("fit", "recommend", "update") if not callable(getattr(rec, m, None))]
    if missing or not getattr(rec, "name", None):
        lacks = ", ".join(missing + ([] if getattr(rec, "name", None) else ["name"]))
        raise ScenarioError(
            f"recommender.class: {path} lacks {lacks}; a recommender needs name, fit(dataset), "
            "recommend(user_ids, k, *, exclude_seen, candidates) and update(interactions)"
        )
    return rec


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
