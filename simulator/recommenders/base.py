"""The recommender protocol and the bookkeeping every built-in shares.

A recommender sees only what a real system would log: the catalogue and the
interactions (``user_id, item_id, timestamp, rating``). It never sees agents' traits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.progress import ProgressHook


class RecommenderConfig(BaseModel):
    """Base of every recommender's small config object (LensKit style)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@runtime_checkable
class Recommender(Protocol):
    """What the world needs from a recommender."""

    name: str

    def fit(self, data: Dataset) -> None: ...

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, list[str]]: ...

    def update(self, interactions: pd.DataFrame) -> None: ...


RECOMMEND_CHUNK = 256
"""Users scored at once. A step's score matrix is users × items: 100,000 users of a
2,000-item catalogue would take 1.6 GB in one piece (and as much again for the masked
copy); a chunk takes 4 MB and stays in the CPU's cache (a third faster here)."""


class ScoringRecommender:
    """Turns per-user item scores into top-k lists, handling seen items and candidates.

    Subclasses implement ``_fit`` and ``_scores(users) -> (n_users, n_items)``. Keeping
    the catalogue as an index lets ``recommend`` work on whole score matrices, so one
    call serves every active user of a step.
    """

    name = "base"
    progress: ProgressHook | None = None
    """Where a slow ``fit`` reports its progress (SASRec's epochs); silent when ``None``."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed
        self.item_ids: np.ndarray = np.array([], dtype=object)
        self._item_index: dict[str, int] = {}
        self._seen: dict[str, set[int]] = {}

    def fit(self, data: Dataset) -> None:
        self.item_ids = np.asarray(data.item_ids, dtype=object)
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self._seen = {}
        self._remember(data.interactions)
        self._fit(data.interactions)

    def update(self, interactions: pd.DataFrame) -> None:
        self._remember(interactions)
        self._update(interactions)

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, list[str]]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not len(self.item_ids):
            raise RuntimeError(f"{type(self).__name__} has not been fit; call fit(data) first")
        users = list(user_ids)
        allowed = None
        if candidates is not None:
            allowed = np.zeros(len(self.item_ids), dtype=bool)
            allowed[[self._item_index[c] for c in candidates if c in self._item_index]] = True
        out: dict[str, list[str]] = {}
        for start in range(0, len(users), RECOMMEND_CHUNK):
            chunk = users[start : start + RECOMMEND_CHUNK]
            scores = np.array(self._scores(chunk), dtype=float)  # our own copy to mask
            if scores.shape != (len(chunk), len(self.item_ids)):
                raise RecworldError(
                    f"{type(self).__name__}._scores returned an array of shape "
                    f"{scores.shape}; it must be (users asked, catalogue items) = "
                    f"({len(chunk)}, {len(self.item_ids)})"
                )
            if allowed is not None:
                scores[:, ~allowed] = -np.inf
            if exclude_seen:
                seen = [self._seen.get(user, ()) for user in chunk]
                rows = np.repeat(np.arange(len(chunk)), [len(s) for s in seen])
                cols = np.fromiter((i for s in seen for i in s), np.int64, len(rows))
                scores[rows, cols] = -np.inf
            out.update(zip(chunk, self._top_k(scores, k), strict=True))
        return out

    def _top_k(self, scores: np.ndarray, k: int) -> list[list[str]]:
        """Each row's ``k`` best items, best first, ties broken by catalogue position (at
        the cut too), so the lists never depend on numpy's selection order. −∞ and NaN
        mean "never" (+∞, "always"). A partition per row, not a sort: linear in the
        catalogue."""
        scores[np.isnan(scores)] = -np.inf
        k = min(k, scores.shape[1])
        lists = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k]
            cut = row[top].min()
            above = top[row[top] > cut]
            top = np.concatenate([above, np.flatnonzero(row == cut)[: k - len(above)]])
            top = top[np.lexsort((top, -row[top]))]
            lists.append(self.item_ids[top[row[top] > -np.inf]].tolist())
        return lists

    def _remember(self, interactions: pd.DataFrame) -> None:
        index = self._item_index
        users, items = interactions["user_id"].tolist(), interactions["item_id"].tolist()
        for user, item in zip(users, items, strict=True):
            if (i := index.get(item)) is not None:
                self._seen.setdefault(user, set()).add(i)

    def save(self, path: str | Path) -> None:
        """Write the fitted state as ``state.npz`` plus ``config.json``: no pickles."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        users = sorted(self._seen)
        seen_items = [np.fromiter(sorted(self._seen[u]), np.int64) for u in users]
        arrays = {
            "item_ids": np.asarray(self.item_ids, dtype=str),
            "seen_users": np.asarray(users, dtype=str),
            "seen_offsets": np.cumsum([0, *map(len, seen_items)]),
            "seen_items": np.concatenate(seen_items) if seen_items else np.zeros(0, np.int64),
            **{f"state_{k}": v for k, v in self._state().items()},
        }
        np.savez(folder / "state.npz", **arrays)
        config = getattr(self, "config", None)
        meta = {"class": type(self).__name__, "config": config.model_dump() if config else {}}
        (folder / "config.json").write_text(json.dumps(meta, indent=2))

    def load(self, path: str | Path) -> None:
        """Restore what ``save`` wrote into this (same-class, same-config) recommender."""
        folder = Path(path)
        meta = json.loads((folder / "config.json").read_text())
        if meta["class"] != type(self).__name__:
            raise ValueError(f"{folder} holds a {meta['class']}, not a {type(self).__name__}")
        with np.load(folder / "state.npz", allow_pickle=False) as data:
            self.item_ids = data["item_ids"].astype(object)
            self._item_index = {item: i for i, item in enumerate(self.item_ids)}
            offsets, items = data["seen_offsets"], data["seen_items"]
            self._seen = {
                str(u): set(items[offsets[i] : offsets[i + 1]].tolist())
                for i, u in enumerate(data["seen_users"])
            }
            self._set_state({k[6:]: data[k] for k in data.files if k.startswith("state_")})

    def _state(self) -> dict[str, np.ndarray]:
        """The learned arrays beyond the catalogue and seen items; subclasses add theirs."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``_state`` returned."""

    def _fit(self, interactions: pd.DataFrame) -> None:
        """Learn from the initial log; the default keeps nothing."""

    def _update(self, interactions: pd.DataFrame) -> None:
        """Learn online from new interactions; the default does nothing more."""

    def _scores(self, users: list[str]) -> np.ndarray:
        raise NotImplementedError
