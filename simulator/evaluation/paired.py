"""A closed-loop comparison's statistics: per recommender, then paired by seed.

Runs with the same seed draw the same users, traits and visits (the world splits one
``SeedSequence`` per component; only churn, where a scenario has it, lets visits drift
apart), so the per-seed difference between two recommenders is a paired comparison. Seeds
are the units of every interval (``stats.mean_ci``): a run is one observation, however
many users it simulates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.evaluation.closed_loop import METRICS, entropy_curve, run_metrics
from simulator.rundir import FinishedRun
from simulator.stats import Estimate, mean_ci


@dataclass(frozen=True)
class RunSpec:
    """One world of the comparison: a recommender, a seed and where its run directory goes."""

    recommender: str
    seed: int
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{self.recommender} seed {self.seed}"


@dataclass
class CompareResult:
    """What a comparison found.

    Attributes:
        runs: One row per run: recommender, seed, run directory (relative to ``out_dir``),
            counts, and one column per name in ``METRICS``.
        summary: One row per recommender and metric: ``mean``, ``low``, ``high``, ``n``
            (seeds with a value). Rows with ``versus`` set are paired differences
            ``recommender - versus`` over the same seeds.
        curves: Genre entropy of exposures per recommender and step: mean and interval
            across seeds of each run's mean over the step's active users.
    """

    recommenders: list[str]
    seeds: list[int]
    runs: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    out_dir: Path | None = None
    level: float = 0.95

    @property
    def baseline(self) -> str:
        return self.recommenders[0]

    def estimate(self, recommender: str, metric: str, versus: str = "") -> Estimate:
        """One cell of the summary: a recommender's metric, or its difference to ``versus``."""
        s = self.summary
        row = s[
            (s["recommender"] == recommender) & (s["metric"] == metric) & (s["versus"] == versus)
        ]
        if row.empty:
            raise KeyError(f"no summary row for {recommender!r}, {metric!r}, versus {versus!r}")
        r = row.iloc[0]
        return Estimate(float(r["mean"]), float(r["low"]), float(r["high"]), int(r["n"]))

    def save(self, out_dir: str | Path) -> None:
        """``runs.csv``, ``summary.csv``, ``summary.json`` and ``entropy_curves.csv``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.runs.to_csv(out / "runs.csv", index=False)
        self.summary.to_csv(out / "summary.csv", index=False)
        self.curves.to_csv(out / "entropy_curves.csv", index=False)
        (out / "summary.json").write_text(json.dumps(self._json(), indent=2) + "\n")

    def _json(self) -> dict[str, Any]:
        def cells(rows: pd.DataFrame) -> dict[str, dict[str, dict[str, float | int | None]]]:
            out: dict[str, dict[str, dict[str, float | int | None]]] = {}
            for r in rows.itertuples(index=False):
                out.setdefault(r.recommender, {})[r.metric] = {
                    "mean": _finite_or_none(r.mean),
                    "low": _finite_or_none(r.low),
                    "high": _finite_or_none(r.high),
                    "n": int(r.n),
                }
            return out

        absolute = self.summary["versus"] == ""
        return {
            "recommenders": self.recommenders,
            "seeds": self.seeds,
            "level": self.level,
            "baseline": self.baseline,
            "metrics": cells(self.summary[absolute]),
            "differences": cells(self.summary[~absolute]),
        }


def measure(
    runs: Sequence[RunSpec],
    catalogue: dict[RunSpec, int] | None = None,
    *,
    out_dir: str | Path | None = None,
    level: float = 0.95,
) -> CompareResult:
    """Measure finished runs and summarise them; the first recommender is the baseline."""
    catalogue = catalogue or {}
    recommenders = list(dict.fromkeys(spec.recommender for spec in runs))
    seeds = list(dict.fromkeys(spec.seed for spec in runs))
    rows, curves = [], []
    for spec in runs:
        where = spec.run_dir.relative_to(out_dir) if out_dir is not None else spec.run_dir
        run = FinishedRun(spec.run_dir)
        metrics = run_metrics(run, catalogue_items=catalogue.get(spec))
        rows.append(
            {
                "recommender": spec.recommender,
                "seed": spec.seed,
                "run_dir": where.as_posix(),
                **metrics,
            }
        )
        curve = entropy_curve(run)
        curves.append(
            pd.DataFrame(
                {
                    "recommender": spec.recommender,
                    "seed": spec.seed,
                    "step": curve.index,
                    "entropy": curve.to_numpy(),
                }
            )
        )
    table = pd.DataFrame(rows)
    return CompareResult(
        recommenders=recommenders,
        seeds=seeds,
        runs=table,
        summary=summarise(table, recommenders, level=level),
        curves=curve_summary(pd.concat(curves, ignore_index=True), recommenders, level=level),
        out_dir=Path(out_dir) if out_dir is not None else None,
        level=level,
    )


def summarise(
    runs: pd.DataFrame, recommenders: Sequence[str], *, level: float = 0.95
) -> pd.DataFrame:
    """Mean and interval per recommender and metric, then paired differences to the first.

    A paired difference is ``mean_ci`` of ``metric(recommender, seed) - metric(first, seed)``
    over the seeds where both are defined. The population is the same, so what a seed does
    to both recommenders cancels, and the interval is usually much narrower than either
    recommender's own.
    """
    baseline = recommenders[0]
    by_seed = {r: runs[runs["recommender"] == r].set_index("seed") for r in recommenders}
    rows = []
    for rec in recommenders:
        for metric in METRICS:
            rows.append(_row(rec, "", metric, mean_ci(by_seed[rec][metric], level)))
    for rec in recommenders[1:]:
        for metric in METRICS:
            diff = by_seed[rec][metric] - by_seed[baseline][metric]  # aligned on seed
            rows.append(_row(rec, baseline, metric, mean_ci(diff.to_numpy(), level)))
    return pd.DataFrame(
        rows, columns=["recommender", "versus", "metric", "mean", "low", "high", "n"]
    )


def curve_summary(
    curves: pd.DataFrame, recommenders: Sequence[str], *, level: float = 0.95
) -> pd.DataFrame:
    """Per recommender and step: mean and interval across seeds of the runs' entropy."""
    rows = []
    for rec in recommenders:
        mine = curves[curves["recommender"] == rec]
        for step, group in mine.groupby("step", sort=True):
            est = mean_ci(group["entropy"].to_numpy(), level)
            rows.append(
                {
                    "recommender": rec,
                    "step": int(step),
                    "mean": est.mean,
                    "low": est.low,
                    "high": est.high,
                    "n": est.n,
                }
            )
    return pd.DataFrame(rows, columns=["recommender", "step", "mean", "low", "high", "n"])


def _row(recommender: str, versus: str, metric: str, est: Estimate) -> dict[str, Any]:
    return {
        "recommender": recommender,
        "versus": versus,
        "metric": metric,
        "mean": est.mean,
        "low": est.low,
        "high": est.high,
        "n": est.n,
    }


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
