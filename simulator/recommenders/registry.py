"""Every built-in recommender by name, the one check of a name, and the builders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.errors import ScenarioError
from simulator.imports import import_class, plugins
from simulator.recommenders.base import Recommender, RecommenderConfig
from simulator.recommenders.llm_rerank import (
    AgentCFRanker,
    LLMRerankConfig,
    LLMReranker,
    TunedLLMConfig,
    TunedLLMReranker,
)
from simulator.recommenders.mmr import MMRConfig, MMRRecommender
from simulator.recommenders.retrievers import RETRIEVERS, build

PLUGIN_GROUP = "recworld.recommenders"
"""Installed packages name their recommenders here (``pyproject.toml``:
``[project.entry-points."recworld.recommenders"] myrec = "mypkg.recs:MyRec"``)."""

RECOMMENDERS: dict[str, tuple[type, type[RecommenderConfig]]] = {
    **RETRIEVERS,
    "mmr": (MMRRecommender, MMRConfig),
    "llm-rerank": (LLMReranker, LLMRerankConfig),
    "agentcf": (AgentCFRanker, LLMRerankConfig),
    "tuned-llm": (TunedLLMReranker, TunedLLMConfig),
}


def check_recommender_name(name: str) -> str:
    """``name`` if a built-in recommender, or an installed package's entry point in the
    ``recworld.recommenders`` group, has it.

    Raises:
        ValueError: naming the value and listing the choices; callers prefix their field.
    """
    if name not in RECOMMENDERS and name not in plugins(PLUGIN_GROUP):
        choices = sorted(RECOMMENDERS) + sorted(plugins(PLUGIN_GROUP))
        raise ValueError(f"unknown recommender {name!r}; choose one of {', '.join(choices)}")
    return name


def is_import_path(name: str) -> bool:
    """Whether a recommender name is your own class's import path (``pkg.module.Class``)."""
    return "." in name


def check_recommender_names(names: Iterable[str]) -> list[str]:
    """The names, stripped, each a built-in, an installed entry point or an allowed class's
    import path (``pkg.module.Class``, checked against the protocol), none repeated, at
    least one.

    Raises:
        ValueError: The first problem, in one line; callers prefix their option.
    """
    cleaned = [n.strip() for n in names if n.strip()]
    if not cleaned:
        raise ValueError(f"no recommender given; choose from {', '.join(sorted(RECOMMENDERS))}")
    for name in cleaned:
        if is_import_path(name):
            _check_protocol(import_class(name, "recommender.class"), name)
        else:
            check_recommender_name(name)
    repeated = sorted({n for n in cleaned if cleaned.count(n) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} given twice; name each once")
    return cleaned


def import_recommender(
    path: str, params: dict[str, Any] | None = None, *, seed: int
) -> Recommender:
    """Bring your own: ``pkg.module.Class``, built as ``Class(**params)`` (plus ``seed=`` when
    its constructor takes one), and checked against the ``Recommender`` protocol.

    The module must be allowed (``simulator.imports``), and the class must have the
    protocol's methods before anything is built: a scenario file never runs other code.
    """
    import inspect

    cls = import_class(path, "recommender.class")
    _check_protocol(cls, path)
    kwargs = dict(params or {})
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = seed
    try:
        rec = cls(**kwargs)
    except TypeError as exc:
        raise ScenarioError(f"recommender.params: {path} rejected them ({exc})") from None
    _check_protocol(rec, path)
    return rec


def _check_protocol(obj: object, path: str) -> None:
    """``obj`` (the class before it is built, then the instance) has the protocol's methods
    and a name. A class may leave the name to its constructor, if it declares it (an
    annotation or a property); the instance must then have set it."""
    missing = [m for m in ("fit", "recommend", "update") if not callable(getattr(obj, m, None))]
    value = getattr(obj, "name", None)
    named = isinstance(value, str) and bool(value)
    if isinstance(obj, type) and not named:
        named = isinstance(value, property) or any(
            "name" in vars(k).get("__annotations__", {}) for k in obj.__mro__
        )
    if missing or not named:
        lacks = ", ".join(missing + ([] if named else ["name"]))
        raise ScenarioError(
            f"recommender.class: {path} lacks {lacks}; a recommender needs name, fit(dataset), "
            "recommend(user_ids, k, *, exclude_seen, candidates) and update(interactions)"
        )


def make_recommender(name: str, params: dict[str, Any] | None = None, *, seed: int) -> Recommender:
    """Create a built-in recommender; bad names and parameters get a field-level error."""
    try:
        check_recommender_name(name)
    except ValueError as exc:
        raise ScenarioError(f"recommender.name: {exc}") from None
    if name not in RECOMMENDERS:  # an installed package's: checked like any class of code
        return import_recommender(plugins(PLUGIN_GROUP)[name], params, seed=seed)
    return build(RECOMMENDERS, name, params, seed=seed)
