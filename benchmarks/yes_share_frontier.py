"""How far the utility agent's own yes/no can move towards the base rate on both kinds of
unseen item, and what that costs against item-kNN.

At m = 1 (one liked film, one unseen) a yes/no rule says yes to (TPR + FPR) / 2 of a list,
so the shares on uniform and on popularity-matched lists differ by half the difference of
its false-positive rates on the two kinds. A threshold moves both shares alike; only the
score's reliance on popularity moves them apart or together. This script tilts the fitted
logit by ``-c * popularity`` for a few ``c`` and, for each, places the yes/no threshold
where the worse of the two m = 1 yes-shares is nearest 0.5 *on the test cases themselves*
(an oracle no fitted rule can beat; with as many lists of each kind, it is the median of
their scores), then runs the whole fidelity suite on the tilted agent and on the item-kNN
floor:

* ``yes u/m``: its yes-shares at m = 1 (uniform / matched), at the oracle threshold;
* ``auc u/m``: its AUC at m = 1;
* ``below item-kNN``: the AUC and F1-at-base-rate cells (m = 1, 2, 3, 9, both kinds) where
  it does not beat the floor.

Run from the repository root (two to six minutes per dataset here)::

    python benchmarks/yes_share_frontier.py ../shared/data/ml-100k --users 300
    python benchmarks/yes_share_frontier.py ../shared/data/ml-latest-small --users 300
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from agents.profile import ItemProfile
from scenarios.datasets import guess_kind, load_dataset
from simulator.dataset import Dataset
from simulator.fidelity.cases import NEGATIVE_KINDS, CaseConfig, build_cases
from simulator.fidelity.floors import RecommenderFloor
from simulator.fidelity.subjects import UtilitySubject
from simulator.fidelity.suite import run_fidelity

CELLS = ("auc", "f1_base_rate")


class TiltedUtility:
    """The fitted utility agent with ``c · popularity`` taken off every score, and its
    yes/no threshold moved by ``shift`` (log-odds)."""

    has_threshold = True

    def __init__(self, base: UtilitySubject, tilt: float, shift: float = 0.0) -> None:
        self.base, self.tilt, self.shift = base, tilt, shift
        self.name = f"tilt {tilt:g}"

    def popularity(self, items: Sequence[str]) -> np.ndarray:
        model = self.base.model
        rows = model.item_rows([ItemProfile(item_id=i, title=i) for i in items])
        return model.popularity[rows]

    def logits(self, pairs: pd.DataFrame) -> np.ndarray:
        p = np.clip(self.base.judge(pairs), 1e-12, 1 - 1e-12)
        return logit(p) - self.tilt * self.popularity(list(pairs["item_id"]))

    def fit(self, train: Dataset) -> None:  # the base agent is fitted once, outside
        pass

    def judge(self, pairs: pd.DataFrame) -> np.ndarray:
        return expit(self.logits(pairs) - self.shift)

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        scores = self.base.rank(groups)
        return [
            np.asarray(s) - self.tilt * self.popularity(list(items))
            for s, (_, items) in zip(scores, groups, strict=True)
        ]

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
        return self.base.rate(pairs, levels)


def oracle_shift(subject: TiltedUtility, first: pd.DataFrame) -> float:
    """The threshold that brings the worse of the two m = 1 yes-shares closest to 0.5."""
    z = subject.logits(first[["user_id", "item_id"]])
    kinds = first["kind"].to_numpy()

    def worst(t: float) -> float:
        return max(abs(float((z[kinds == k] >= t).mean()) - 0.5) for k in NEGATIVE_KINDS)

    return min(np.quantile(z, np.linspace(0.05, 0.95, 1801)), key=worst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tilts", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    args = parser.parse_args()

    dataset = load_dataset(guess_kind(args.data), args.data)
    cases = build_cases(dataset, CaseConfig(users=args.users, seed=args.seed))
    base = UtilitySubject()
    base.fit(cases.train)
    first = cases.discrimination[cases.discrimination["m"] == 1].reset_index(drop=True)
    subjects = []
    for tilt in args.tilts:
        subject = TiltedUtility(base, tilt)
        subject.shift = oracle_shift(subject, first)
        subjects.append(subject)
    floor = RecommenderFloor("item-knn", seed=args.seed)
    report = run_fidelity(dataset, [*subjects, floor], cases=cases, behaviour=False)

    table = report.discrimination.set_index(["subject", "negatives", "m"])
    knn = table.loc[floor.name]
    print(f"{args.data}, {args.users} users, seed {args.seed}; oracle threshold per tilt")
    for subject in subjects:
        rows = table.loc[subject.name]
        below = [
            f"{kind[:3]} m={m} {cell}"
            for (kind, m) in rows.index
            for cell in CELLS
            if rows.loc[(kind, m), cell] <= knn.loc[(kind, m), cell]
        ]
        yes = [rows.loc[(kind, 1), "yes_share"] for kind in NEGATIVE_KINDS]
        auc = [rows.loc[(kind, 1), "auc"] for kind in NEGATIVE_KINDS]
        print(
            f"{subject.name:>8}: yes u/m {yes[0]:.3f}/{yes[1]:.3f}  "
            f"auc u/m {auc[0]:.3f}/{auc[1]:.3f}  "
            f"below item-kNN: {', '.join(below) or 'none'}"
        )


if __name__ == "__main__":
    main()
