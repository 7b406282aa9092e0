"""Model-family sensitivity: does a recommender win only when the simulated users share its
model family?

A simulator whose users choose by item-kNN will favour an item-kNN recommender: it serves
exactly what those users like. ``compare --taste-families`` runs the same comparison under
taste cores of several families (``agents.collaborative``); this module ranks the
recommenders under each and says when the winner changes with the family, and above all
when an arm wins only under the taste core of its own family.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.evaluation.paired import CompareResult


@dataclass(frozen=True)
class FamilySensitivity:
    """The recommenders' ranking under each taste family.

    Attributes:
        metric: The metric ranked on (a column of ``closed_loop.METRICS``; higher wins).
        table: One row per family and recommender: ``mean`` of the metric and its ``rank``
            among the recommenders of that family (1 = best).
        findings: One sentence per finding, most serious first; empty when every family
            ranks the recommenders alike.
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
    results: Mapping[str, CompareResult], metric: str = "ctr"
) -> FamilySensitivity:
    """Rank the recommenders under each family's comparison and compare the rankings.

    Args:
        results: One comparison per taste family, all of the same recommenders.
        metric: What "wins" means: the highest mean of this metric across seeds.
    """
    rows = []
    for family, result in results.items():
        means = {r: result.estimate(r, metric).mean for r in result.recommenders}
        ordered = sorted(means, key=lambda r: (-_finite(means[r]), r))
        for rank, rec in enumerate(ordered, start=1):
            rows.append({"family": family, "recommender": rec, "mean": means[rec], "rank": rank})
    table = pd.DataFrame(rows, columns=["family", "recommender", "mean", "rank"])
    return FamilySensitivity(metric, table, _findings(table))


def _findings(table: pd.DataFrame) -> tuple[str, ...]:
    best = table[table["rank"] == 1].set_index("family")["recommender"]
    families = list(best.index)
    if len(families) < 2 or best.nunique() == 1:
        return ()
    own, where = [], []
    for rec in pd.unique(best):
        wins = [f for f in families if best[f] == rec]
        if wins == [rec]:
            own.append(
                f"{rec} wins only when the simulated users choose by {rec} too: its lead is "
                "likely an artefact of the simulator, not a finding"
            )
        where.append(f"{rec} under {', '.join(wins)}")
    return (*own, "the winner depends on the taste family: " + "; ".join(where))


def _finite(x: float) -> float:
    return x if x == x else float("-inf")
