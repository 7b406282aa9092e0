"""Distillation: a small collaborative model trained on what an LLM says users choose.

Two sources of LLM-labelled interactions:

* **labels**: the LLM is asked, as a simulated user is (``LLMSubject.judge_request``:
  persona, rated history, verdicts on similar items), whether the user would like each of
  some candidate items: their own training items and as many unseen ones (half from an
  item-kNN retriever's top, half drawn by popularity). The yeses are the log.
* **a run directory**: the watches of a finished simulation (``interactions.parquet``),
  for example one driven by the LLM policy.

The student (ALS, BPR, item-kNN or SASRec) is trained on that log alone and scored on the
real data's held-out items (leave-last-out, NDCG@10 and the rest) beside the same model
trained on the real training log, with the same test users and the same items excluded
(each user's real training history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.evaluation.offline import OfflineResult, evaluate
from simulator.evaluation.splits import Split, make_split
from simulator.fidelity.subjects import LLMSubject
from simulator.llm.runtime import LLMRuntime
from simulator.recommenders.registry import make_recommender
from simulator.rundir import FinishedRun

STUDENTS = ("als", "bpr", "item-knn", "sasrec")
RETRIEVER_POOL = 50
"""The item-kNN top items that half of a user's unseen candidates are drawn from."""


@dataclass
class DistillResult:
    log: pd.DataFrame
    """The LLM-labelled interactions the student learned from."""
    labels: pd.DataFrame
    """Every question asked: user_id, item_id, timestamp, ``p_yes`` (calibrated) and
    ``label``; empty for a run directory."""
    offline: OfflineResult
    """The student and the same model on the real log, on the same test."""


class TrainedOn:
    """A recommender fitted on another log than the one ``evaluate`` hands it, and scored
    with that split's exclusions: each user's real training items are never recommended."""

    def __init__(self, model, log: Dataset, name: str) -> None:
        self.model = model
        self.log = log
        self.name = name
        self._seen: dict[str, set[str]] = {}

    def fit(self, data: Dataset) -> None:
        self.model.fit(self.log)
        inter = data.interactions.astype({"user_id": str, "item_id": str})
        self._seen = inter.groupby("user_id")["item_id"].agg(set).to_dict()

    def update(self, interactions: pd.DataFrame) -> None:
        self.model.update(interactions)

    def recommend(self, user_ids: Sequence[str], k: int, *, exclude_seen: bool = True, **kw):
        extra = max((len(self._seen.get(str(u), ())) for u in user_ids), default=0)
        lists = self.model.recommend(user_ids, k + extra, exclude_seen=True)
        return {
            u: [i for i in items if i not in self._seen.get(str(u), set())][:k]
            for u, items in lists.items()
        }


def llm_labels(
    train: Dataset,
    llm: LLMRuntime,
    *,
    users: int | None = None,
    unseen: int = 10,
    own: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The LLM's yes/no on each sampled user's training items and ``unseen`` others: one
    row per question with ``p_yes`` (calibrated against a content-free item) and
    ``label`` (``p_yes`` ≥ 0.5). ``own`` caps the training items asked per user (a
    uniform sample, for a slow model). Timestamps keep the training order; unseen items
    come after it."""
    rng = np.random.default_rng(seed)
    inter = train.interactions.astype({"user_id": str, "item_id": str})
    ids = np.sort(inter["user_id"].unique())
    chosen = ids if users is None or users >= len(ids) else np.sort(rng.choice(ids, users, False))
    retriever = make_recommender("item-knn", None, seed=seed)
    retriever.fit(train)
    tops = retriever.recommend(list(chosen), RETRIEVER_POOL, exclude_seen=True)
    counts = inter["item_id"].value_counts()
    catalogue = np.asarray([str(i) for i in train.item_ids], dtype=object)
    weights = counts.reindex(catalogue, fill_value=0).to_numpy(dtype=float) + 1.0
    subject = LLMSubject(llm, calibrate=True, yes_map=False)
    subject.fit(train)
    by_user = dict(tuple(inter.groupby("user_id", sort=False)))
    pairs = []
    for user in chosen:
        mine = by_user[user]
        seen = set(mine["item_id"])
        if own is not None and len(mine) > own:
            mine = mine.iloc[np.sort(rng.choice(len(mine), own, replace=False))]
        top = [i for i in tops.get(user, []) if i not in seen]
        near = list(rng.permutation(top)[: unseen // 2]) if top else []
        mask = ~np.isin(catalogue, [*seen, *near])
        p = weights * mask
        far = (
            rng.choice(
                catalogue,
                size=min(unseen - len(near), int(mask.sum())),
                replace=False,
                p=p / p.sum(),
            )
            if mask.any()
            else []
        )
        last = float(mine["timestamp"].max()) if len(mine) else 0.0
        pairs += [(user, i, t) for i, t in zip(mine["item_id"], mine["timestamp"], strict=True)]
        pairs += [(user, str(i), last + 1 + j) for j, i in enumerate([*near, *far])]
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id", "timestamp"])
    scores = subject.judge(frame[["user_id", "item_id"]])
    return frame.assign(p_yes=scores, label=np.nan_to_num(scores, nan=0.0) >= 0.5)


def simulated_log(run_dir: str | Path) -> pd.DataFrame:
    """The watches of a finished run as interactions (timestamp: step, then page order)."""
    rows = FinishedRun(run_dir).interactions
    watched = rows[rows["action"] == "watch"]
    if watched.empty:
        raise RecworldError(f"{run_dir}: the run has no watches to learn from")
    order = watched["step"].astype(np.int64) * 1_000_000 + watched["page"].astype(np.int64) * 100
    return pd.DataFrame(
        {
            "user_id": watched["user_id"].astype(str),
            "item_id": watched["item_id"].astype(str),
            "rating": watched["rating"].astype(float),
            "timestamp": order + watched["position"].astype(np.int64),
        }
    ).reset_index(drop=True)


def distill(
    dataset: Dataset,
    *,
    student: str = "als",
    llm: LLMRuntime | None = None,
    run_dir: str | Path | None = None,
    users: int | None = None,
    unseen: int = 10,
    own: int | None = None,
    k: int = 10,
    seed: int = 0,
) -> DistillResult:
    """Train ``student`` on LLM-labelled interactions and score it beside the same model
    trained on the real log (leave-last-out on ``dataset``).

    Give ``llm`` (labels on sampled pairs) or ``run_dir`` (a simulation's watches).
    """
    if student not in STUDENTS:
        raise RecworldError(f"student {student!r}: choose one of {', '.join(STUDENTS)}")
    if (llm is None) == (run_dir is None):
        raise RecworldError("distill needs an LLM to label pairs, or a run directory, not both")
    split: Split = make_split(dataset, "leave-last-out", seed=seed)
    labels = pd.DataFrame(columns=["user_id", "item_id", "timestamp", "p_yes", "label"])
    if llm is not None:
        labels = llm_labels(split.train, llm, users=users, unseen=unseen, own=own, seed=seed)
        log = labels[labels["label"]].assign(rating=np.nan)
        log = log[["user_id", "item_id", "rating", "timestamp"]].reset_index(drop=True)
    else:
        log = simulated_log(run_dir)  # type: ignore[arg-type]
        known = {str(i) for i in dataset.item_ids}
        log = log[log["item_id"].isin(known)]
    if log.empty:
        raise RecworldError("the LLM-labelled log is empty: the LLM said yes to nothing")
    taught = replace(split.train, interactions=log)
    students = {
        f"{student} (real log)": student,
        f"{student} (LLM-labelled log)": TrainedOn(
            make_recommender(student, None, seed=seed), taught, student
        ),
    }
    # Score the users the student has heard of: those the labels or the run covered.
    tested = sorted(set(log["user_id"].astype(str)) & set(split.test))
    if not tested:
        raise RecworldError("no test user of the real data is in the LLM-labelled log")
    offline = evaluate(dataset, students, split=split, k=k, seed=seed, users=tested)
    return DistillResult(log, labels, offline)
