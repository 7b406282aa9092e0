"""Offline evaluation: fit recommenders on a split's training data and score their top K.

Each recommender is fitted on the training part, asked once (in user batches) for K
unseen items per test user, and scored per user on accuracy and beyond-accuracy
metrics; the summary gives each metric's mean with a 95% t interval over users
(``stats.mean_ci``), plus the set-level metrics (coverage, exposure Gini, popularity lift)
that only exist for all lists together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.evaluation import metrics as m
from simulator.evaluation.splits import Split, make_split
from simulator.progress import ProgressHook, phase
from simulator.recommenders.base import Recommender
from simulator.stats import mean_ci

USER_METRICS = (*m.RANKING_METRICS, "diversity", "novelty", "arp")
"""Per-user columns of ``OfflineResult.per_user`` that the summary averages."""
SET_METRICS = ("coverage", "gini", "popularity_lift")
"""Metrics of all lists together: one value per recommender, no interval."""

RecommenderSpec = Recommender | str | Mapping[str, Any]
"""A recommender, a registry name, or ``{"name": ..., "params": {...}}``."""

_BATCH = 2048  # users per recommend call: bounds the (users x items) score matrix


@dataclass(frozen=True)
class OfflineResult:
    """What ``evaluate`` measured.

    Attributes:
        per_user: One row per (recommender, user): ``recommender``, ``user_id``,
            ``n_relevant`` and every ``USER_METRICS`` column.
        summary: One row per (recommender, metric): ``mean``, ``ci_low``, ``ci_high``,
            ``half_width``, ``n`` (users), ``scope`` (``user`` or ``set``; set metrics have
            no interval), plus ``fit_s`` and ``recommend_s`` of that recommender.
        split: The split's metadata (method, sizes, users dropped and why).
        k: The list length scored.
    """

    per_user: pd.DataFrame
    summary: pd.DataFrame
    split: dict[str, Any]
    k: int

    def table(self) -> pd.DataFrame:
        """Recommenders as rows, metrics as columns, means only: for a quick look."""
        return self.summary.pivot(index="recommender", columns="metric", values="mean").reindex(
            index=self.summary["recommender"].unique(), columns=[*USER_METRICS, *SET_METRICS]
        )


def evaluate(
    dataset: Dataset,
    recommenders: Mapping[str, RecommenderSpec] | Sequence[str],
    *,
    split: str | Split = "leave-last-out",
    k: int = 10,
    seed: int = 0,
    users: int | Sequence[str] | None = None,
    relevant_rating: float | None = None,
    test_share: float = 0.2,
    item_embeddings: np.ndarray | None = None,
    progress: ProgressHook | None = None,
) -> OfflineResult:
    """Fit each recommender on the training part and score its top ``k`` per test user.

    Args:
        dataset: The full dataset; ignored for splitting when ``split`` is a ``Split``.
        recommenders: Label -> recommender instance, registry name, or
            ``{"name": ..., "params": {...}}``; or a list of registry names. Instances are
            refitted on the split.
        split: ``leave-last-out``, ``temporal``, ``random``, or a ready ``Split``.
        k: List length.
        seed: Seeds named recommenders, the random split and the user sample.
        users: Score only this many test users (sampled with ``seed``) or these ids.
        relevant_rating: Only held-out items rated at least this count as relevant.
        test_share: Held-out share for the temporal and random splits.
        item_embeddings: ``(n_items, d)`` rows in ``dataset.item_ids`` order; diversity
            then uses cosine distance instead of genre Jaccard distance.
        progress: Hears each recommender's fit and scoring as phases, and whatever a
            recommender with a ``progress`` attribute reports (SASRec's epochs).

    Raises:
        RecworldError: An unknown recommender or split name, ``k < 1``, a bad sample size,
            or a split that leaves no user to test.
    """
    if k < 1:
        raise RecworldError(f"k = {k}: the list length must be at least 1")
    if not isinstance(recommenders, Mapping):
        recommenders = {name: name for name in recommenders}
    if not recommenders:
        raise RecworldError("no recommender to evaluate; give at least one")
    built = {label: build_recommender(spec, seed=seed) for label, spec in recommenders.items()}
    if not isinstance(split, Split):
        if dataset.interactions.empty:
            raise RecworldError(
                f"{dataset.name}: no interactions to split; offline evaluation needs a logged "
                "history (a dataset of profiles only can still drive a simulation)"
            )
        with phase(progress, f"splitting {dataset.name} ({split})"):
            split = make_split(
                dataset, split, seed=seed, test_share=test_share, relevant_rating=relevant_rating
            )
    test_users = _test_users(split, users, seed)
    context = _Context.of(split, test_users, item_embeddings)

    per_user, summary = [], []
    for label, rec in built.items():
        _lend_own_model(rec)
        if progress is not None and hasattr(rec, "progress"):
            rec.progress = progress
        started = time.perf_counter()
        with phase(progress, f"fitting {label}"):
            rec.fit(split.train)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        with phase(progress, f"scoring {label} on {len(test_users):,} users"):
            lists = _recommend(rec, test_users, k)
        recommend_s = time.perf_counter() - started
        frame, set_values = _score(lists, split, test_users, k, context)
        frame.insert(0, "recommender", label)
        per_user.append(frame)
        rows = _summarise(frame, set_values)
        rows.insert(0, "recommender", label)
        summary.append(rows.assign(fit_s=fit_s, recommend_s=recommend_s))
    return OfflineResult(
        per_user=pd.concat(per_user, ignore_index=True),
        summary=pd.concat(summary, ignore_index=True),
        split=dict(split.meta, scored_users=len(test_users)),
        k=k,
    )


def build_recommender(spec: RecommenderSpec, *, seed: int) -> Recommender:
    """A recommender from an instance, a registry name or ``{"name", "params"}``."""
    from simulator.recommenders.registry import check_recommender_name, make_recommender

    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, Mapping):
        name = spec.get("name")
        try:
            check_recommender_name(name)
        except ValueError as exc:
            raise RecworldError(str(exc)) from None
        return make_recommender(name, spec.get("params"), seed=seed)
    if not all(callable(getattr(spec, a, None)) for a in ("fit", "recommend")):
        raise RecworldError(
            f"{spec!r} is not a recommender; give a registry name or an object with "
            "fit(dataset) and recommend(user_ids, k)"
        )
    return spec


def _lend_own_model(recommender: object) -> None:
    """A recommender that ranks with a model of its own (``tuned-llm``) gets the means to
    load it; the LLM re-rankers that need the world's users keep their retriever's order."""
    if not getattr(recommender, "own_model", False):
        return
    from simulator.llm.registry import load_runtime
    from simulator.llm.runtime import LLMRuntime
    from simulator.llm.scripted import ScriptedLLM
    from simulator.recommenders.llm_rerank import RecommenderContext

    recommender.attach(  # type: ignore[attr-defined]
        RecommenderContext(llm=LLMRuntime(ScriptedLLM()), load_llm=load_runtime)
    )


@dataclass(frozen=True)
class _Context:
    """What scoring needs besides the lists, computed once for every recommender."""

    item_ids: list[str]
    popularity: np.ndarray
    profile_popularity: np.ndarray
    features: np.ndarray | None
    metric: str

    @classmethod
    def of(cls, split: Split, users: list[str], embeddings: np.ndarray | None) -> _Context:
        train = split.train
        item_ids = train.item_ids
        popularity = m.popularity_counts(train.interactions, item_ids)
        item_pop = pd.Series(popularity, index=pd.Index(item_ids))
        by_user = train.interactions["item_id"].map(item_pop).groupby(train.interactions["user_id"])
        profile = by_user.mean().reindex(users).to_numpy(dtype=float)
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=float)
            if embeddings.shape[0] != len(item_ids):
                raise RecworldError(
                    f"item embeddings have {embeddings.shape[0]} rows for {len(item_ids)} "
                    "items; give one row per item, in dataset.item_ids order"
                )
            return cls(item_ids, popularity, profile, embeddings, "cosine")
        genres = m.genre_matrix(train.items)
        features = genres if genres.any() else None  # no genres: diversity undefined
        return cls(item_ids, popularity, profile, features, "jaccard")


def _test_users(split: Split, users: int | Sequence[str] | None, seed: int) -> list[str]:
    available = sorted(split.test)
    if not available:
        counts = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in split.meta.items() if k.endswith("users")
        )
        raise RecworldError(
            f"the {split.meta.get('split')} split left no user to test ({counts}); "
            "try another split or a lower --relevant-rating"
        )
    if users is None:
        return available
    if isinstance(users, str):
        users = [users]
    if isinstance(users, int):
        if users < 1:
            raise RecworldError(f"users = {users}: sample at least 1 user, or leave it out")
        if users >= len(available):
            return available
        picked = np.random.default_rng(seed).choice(len(available), size=users, replace=False)
        return [available[i] for i in np.sort(picked)]
    missing = [u for u in users if u not in split.test]
    if missing:
        raise RecworldError(
            f"user(s) {missing[:5]} have nothing held out in the {split.meta.get('split')} "
            "split; pick users from the split's test set"
        )
    return list(users)


def _recommend(rec: Recommender, users: list[str], k: int) -> list[list[str]]:
    lists: dict[str, list[str]] = {}
    for start in range(0, len(users), _BATCH):
        lists.update(rec.recommend(users[start : start + _BATCH], k, exclude_seen=True))
    return [list(lists.get(u, []))[:k] for u in users]


def _score(
    lists: list[list[str]], split: Split, users: list[str], k: int, ctx: _Context
) -> tuple[pd.DataFrame, dict[str, float]]:
    relevant = [split.test[u] for u in users]
    frame = m.ranking_metrics(lists, relevant, k)
    frame.insert(0, "user_id", users)
    frame.insert(1, "n_relevant", [len(r) for r in relevant])
    indices = m.index_matrix(lists, ctx.item_ids, k)
    if ctx.features is None:
        frame["diversity"] = np.nan
    else:
        frame["diversity"] = m.intra_list_diversity(indices, ctx.features, metric=ctx.metric)
    frame["novelty"] = m.novelty(indices, ctx.popularity)
    frame["arp"] = m.average_popularity(indices, ctx.popularity)
    n_items = len(ctx.item_ids)
    set_values = {
        "coverage": m.catalogue_coverage(indices, n_items),
        "gini": m.exposure_gini(indices, n_items),
        "popularity_lift": m.popularity_lift(frame["arp"].to_numpy(), ctx.profile_popularity),
    }
    return frame, set_values


def _summarise(frame: pd.DataFrame, set_values: dict[str, float]) -> pd.DataFrame:
    rows = []
    for metric in USER_METRICS:
        est = mean_ci(frame[metric].to_numpy())
        rows.append((metric, est.mean, est.low, est.high, est.half_width, est.n, "user"))
    for metric, value in set_values.items():
        rows.append((metric, value, np.nan, np.nan, np.nan, len(frame), "set"))
    columns = ["metric", "mean", "ci_low", "ci_high", "half_width", "n", "scope"]
    return pd.DataFrame(rows, columns=columns)
