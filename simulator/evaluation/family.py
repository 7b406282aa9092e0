"""Model-family sensitivity: does a recommender win only when the simulated users share its
model family?

A simulator whose users choose by item-kNN will favour an item-kNN recommender: it serves
exactly what those users like. ``compare --taste-families`` runs the same comparison under
taste cores of several families (``agents.collaborative``); this module ranks the
recommenders under each and reports every *reversal*: A beats B under one family and B
beats A under another, each with a paired interval over seeds that excludes 0. A reversal
where A wins only under its own family is flagged first: its lead is likely an artefact.
Differences within noise are not findings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.evaluation.paired import CompareResult
from simulator.stats import mean_ci


@dataclass(frozen=True)
class FamilySensitivity:
    """The recommenders' ranking under each taste family.

    Attributes:
        metric: The metric ranked on (a column of ``closed_loop.METRICS``; higher wins).
        table: One row per family and recommender: ``mean`` of the metric and its ``rank``
            among the recommenders of that family (1 = best).
        findings: One sentence per finding, most serious first; empty when no family
            reverses another's clear (interval excludes 0) ordering of two recommenders.
    """

    metric: str
    table: pd.DataFrame
    findings: tuple[str, ...]

    @property
    def winners(self) -> dict[str, str]:
        """The best recommender under each family."""
        best = self.table[self.table["rank"] == 1]
        return dict(zip(best["family"], best["recommender"], strict=True))

    def save(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        self.table.to_csv(out / "families.csv", index=False)
        payload = {"metric": self.metric, "winners": self.winners, "findings": self.findings}
        (out / "families.json").write_text(json.dumps(payload, indent=2) + "\n")


def family_sensitivity(
    results: Mapping[str, CompareResult], metric: str = "ctr", level: float = 0.95
) -> FamilySensitivity:
    """Rank the recommenders under each family's comparison and compare the rankings.

    Args:
        results: One comparison per taste family, all of the same recommenders and seeds.
        metric: What "wins" means: the higher mean of this metric, paired by seed.
        level: Of the paired intervals that decide whether one recommender beats another.
    """
    rows = []
    beats: dict[str, set[tuple[str, str]]] = {}
    for family, result in results.items():
        means = {r: result.estimate(r, metric).mean for r in result.recommenders}
        ordered = sorted(means, key=lambda r: (-_finite(means[r]), r))
        for rank, rec in enumerate(ordered, start=1):
            rows.append({"family": family, "recommender": rec, "mean": means[rec], "rank": rank})
        beats[family] = _clear_wins(result, metric, level)
    table = pd.DataFrame(rows, columns=["family", "recommender", "mean", "rank"])
    return FamilySensitivity(metric, table, _findings(beats))


def _clear_wins(result: CompareResult, metric: str, level: float) -> set[tuple[str, str]]:
    """Pairs (a, b) where a's metric minus b's, paired by seed, has an interval above 0."""
    by_seed = result.runs.pivot_table(index="seed", columns="recommender", values=metric)
    wins = set()
    for a in result.recommenders:
        for b in result.recommenders:
            if a != b and a in by_seed and b in by_seed:
                est = mean_ci((by_seed[a] - by_seed[b]).to_numpy(), level)
                if est.n >= 2 and est.low > 0:
                    wins.add((a, b))
    return wins


def _findings(beats: Mapping[str, set[tuple[str, str]]]) -> tuple[str, ...]:
    own, other = [], []
    for a, b in sorted({pair for wins in beats.values() for pair in wins}):
        won = [f for f, wins in beats.items() if (a, b) in wins]
        lost = [f for f, wins in beats.items() if (b, a) in wins]
        if not lost:
            continue
        text = f"{a} beats {b} under the {', '.join(won)} taste core, loses under {', '.join(lost)}"
        if won == [a]:
            own.append(
                f"{a} beats {b} only when the simulated users choose by {a} too (loses under "
                f"{', '.join(lost)}): likely an artefact of the simulator, not a finding"
            )
        else:
            other.append(text)
    return (*own, *other)


def _finite(x: float) -> float:
    return x if x == x else float("-inf")
