"""Closed-loop A/B: the same seeded population under each recommender, across seeds.

A scenario's own ``arms`` split one population, so each recommender meets different
users. Here every run serves *one* recommender to everyone: the scenario's ``arms`` and
``switches`` are cleared. Runs with the same seed draw the same users, traits and visits
(the world splits one ``SeedSequence`` per component; only churn, where a scenario has it,
lets visits drift apart), so the per-seed difference between two recommenders is a paired
comparison. Seeds are the units of every interval
(``stats.mean_ci``): a run is one observation, however many users it simulates.

Measurement reads only the run directories, so a finished comparison can be re-measured,
and running the worlds in parallel processes cannot change a number.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import numpy as np
import pandas as pd

from simulator.errors import RecworldError
from simulator.stats import Estimate, gini, mean_ci
from simulator.recommenders.registry import RECOMMENDERS
from simulator.runlog import USER_COLUMNS, RunLog, read_events, read_interactions, read_log

METRICS: dict[str, str] = {
    "ctr": "click-through",  # watched / exposed
    "watch_rate": "visits with a watch",
    "mean_rating": "mean rating",
    "pages_per_visit": "pages per visit",
    "page_limit_share": "visits ending at page limit",
    "interview_score": "interview score (1-10)",
    "final_entropy": "genre entropy, last step",  # bits; the last step that had visitors
    "exposure_gini": "exposure Gini",  # over the whole catalogue, unseen items as zeros
    "llm_tokens": "LLM tokens",  # prompt + completion
    "llm_calls": "LLM calls",
}
"""Every compared metric, by its column name, with a label for tables."""

PAGE_LIMIT = "page limit"
"""The exit reason the world logs when a visit ran out of pages (``world._exit_reason``)."""

ProgressCallback = Callable[["RunSpec", int, int], None]
"""``(run, steps done, steps in all)``; ``done == total`` when the run has finished."""


class ComparableScenario(Protocol):
    """A ``scenarios.Scenario``; named by its shape because ``simulator`` never imports
    ``scenarios`` (the CLI is the composition root)."""

    seed: int
    steps: int
    name: str

    def model_dump(self) -> dict[str, Any]: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


S = TypeVar("S", bound=ComparableScenario)


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


# -- one run ------------------------------------------------------------------------------


def run_metrics(run_dir: str | Path, *, catalogue_items: int | None = None) -> dict[str, float]:
    """One run's numbers, read from its run directory.

    Args:
        run_dir: A finished (or partly finished) run.
        catalogue_items: Items in the whole catalogue, for the exposure Gini; items never
            shown count as zeros. ``None`` counts only the items that were shown, which
            understates concentration.

    Returns:
        ``steps``, ``visits``, ``exposures``, ``watches``, ``catalogue_items`` and every
        metric in ``METRICS``; NaN where a metric is undefined (no ratings, no interviews).
    """
    run_dir = Path(run_dir)
    rows = read_interactions(run_dir)
    events = read_events(run_dir)
    watched = rows["action"] == "watch"
    per_visit = watched.groupby([rows["step"], rows["user_id"]]).any()
    exits = events[events["kind"] == "exit"]
    interviews = events[events["kind"] == "interview"]
    counts = rows["item_id"].value_counts().to_numpy()
    if catalogue_items is not None:
        if catalogue_items < len(counts):
            raise ValueError(
                f"catalogue_items={catalogue_items} but {len(counts)} items were shown"
            )
        counts = np.concatenate([counts, np.zeros(catalogue_items - len(counts))])
    totals = _llm_totals(run_dir)
    curve = entropy_curve(run_dir)
    return {
        "steps": len(curve),
        "visits": len(per_visit),
        "exposures": len(rows),
        "watches": int(watched.sum()),
        "catalogue_items": len(counts),
        "ctr": _mean(watched),
        "watch_rate": _mean(per_visit),
        "mean_rating": _mean(rows.loc[watched, "rating"].dropna().astype(float)),
        "pages_per_visit": _mean(exits["value"]),
        "page_limit_share": _mean(exits["text"] == PAGE_LIMIT),
        "interview_score": _mean(interviews["value"].dropna()),
        # The last step with visitors: a quiet last step would otherwise read as NaN.
        "final_entropy": float(curve.dropna().iloc[-1]) if curve.notna().any() else float("nan"),
        "exposure_gini": gini(counts),
        "llm_tokens": float(totals.get("prompt_tokens", 0) + totals.get("completion_tokens", 0)),
        "llm_calls": float(totals.get("calls", 0)),
    }


def entropy_curve(run_dir: str | Path) -> pd.Series:
    """Mean genre entropy (bits) of the exposures of each step's active users, by step.

    Every step of the run appears; a step without visitors is NaN.
    """
    run_dir = Path(run_dir)
    users = read_log(run_dir, "users.parquet", USER_COLUMNS)
    means = users.groupby("step")["exposure_entropy"].mean()
    metrics = run_dir / "metrics.parquet"
    steps = pd.read_parquet(metrics, columns=["step"])["step"] if metrics.exists() else means.index
    return means.reindex(pd.Index(np.asarray(steps, int), name="step")).astype(float)


def _llm_totals(run_dir: Path) -> dict[str, float]:
    path = run_dir / "llm_stats.json"
    if not path.exists():
        raise RecworldError(f"{path}: not found; is {run_dir} a finished recworld run?")
    return json.loads(path.read_text()).get("totals", {})


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# -- planning and running -----------------------------------------------------------------


def check_recommenders(names: Sequence[str]) -> list[str]:
    """The names, stripped, if each is a registered recommender and none repeats.

    Raises:
        RecworldError: naming the bad value and listing the known recommenders.
    """
    cleaned = [n.strip() for n in names if n.strip()]
    if not cleaned:
        raise RecworldError(
            f"--recommenders: no recommender given; choose from {', '.join(sorted(RECOMMENDERS))}"
        )
    for name in cleaned:
        if name not in RECOMMENDERS:
            raise RecworldError(
                f"--recommenders: unknown recommender {name!r}; "
                f"choose from {', '.join(sorted(RECOMMENDERS))}"
            )
    repeated = sorted({n for n in cleaned if cleaned.count(n) > 1})
    if repeated:
        raise RecworldError(f"--recommenders: {', '.join(repeated)} given twice; name each once")
    return cleaned


def single_recommender(scenario: S, recommender: str, seed: int) -> S:
    """The scenario with one recommender (default parameters) for everyone, at ``seed``.

    Its A/B ``arms`` and ``switches`` are cleared; everything else is kept.
    """
    data = scenario.model_dump()
    data.update(recommender={"name": recommender}, arms=[], switches=[], seed=seed)
    return type(scenario).model_validate(data)


def plan(recommenders: Sequence[str], seeds: Sequence[int], out_dir: str | Path) -> list[RunSpec]:
    """Every run, recommender by recommender: ``OUT/<recommender>/seed-<s>/``."""
    out = Path(out_dir)
    return [RunSpec(r, s, out / r / f"seed-{s}") for r in recommenders for s in seeds]


def simulate(
    scenario: ComparableScenario,
    run_dir: Path,
    *,
    overwrite: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """Run one world to its end, writing its run directory; returns the catalogue size.

    Module-level, so worker processes can pickle a call to it. ``World`` is imported here
    so that measuring finished runs never loads the world's agents and memory stack.
    """
    from simulator.world import World

    with World(scenario, run_dir=run_dir, overwrite=overwrite) as world:
        while world.running:
            world.step()
            if on_step is not None:
                on_step(world.steps)
        return len(world.items)


def compare(
    scenario: ComparableScenario,
    recommenders: Sequence[str],
    seeds: int,
    *,
    out_dir: str | Path,
    jobs: int = 1,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
) -> CompareResult:
    """Run ``scenario`` under each recommender for ``seeds`` seeds, measure, and save.

    Seeds are ``scenario.seed + i``. Each run serves one recommender to every user (the
    scenario's ``arms`` and ``switches`` are cleared) and is a normal run directory under
    ``OUT/<recommender>/seed-<s>/``; ``OUT`` also gets ``runs.csv``, ``summary.csv``,
    ``summary.json`` and ``entropy_curves.csv``. The first recommender is the baseline of
    the paired differences.

    Args:
        scenario: A validated ``scenarios.Scenario`` (with any overrides applied).
        jobs: Worlds run at once, in separate processes; results are identical to
            ``jobs=1`` (each run is seeded on its own and measured from its directory).
            Each process loads its own LLM backend and embedder.
        overwrite: Replace run directories that already hold runs; otherwise they are
            refused before anything runs.
        on_progress: Called as runs advance: per step with ``jobs=1``, at the end of each
            run otherwise.

    Raises:
        RecworldError: An unknown or repeated recommender, fewer than one seed or job, or
            an ``OUT`` that already holds runs without ``overwrite``.
    """
    names = check_recommenders(recommenders)
    if seeds < 1:
        raise RecworldError(f"--seeds: need at least 1 seed, got {seeds}")
    if jobs < 1:
        raise RecworldError(f"--jobs: need at least 1 job, got {jobs}")
    seed_list = [scenario.seed + i for i in range(seeds)]
    runs = plan(names, seed_list, out_dir)
    if not overwrite:
        _refuse_existing(runs)
    catalogue = _simulate_all(scenario, runs, jobs=jobs, overwrite=overwrite, report=on_progress)
    result = measure(runs, catalogue, out_dir=out_dir)
    result.save(out_dir)
    return result


def _refuse_existing(runs: Sequence[RunSpec]) -> None:
    for spec in runs:
        if any((spec.run_dir / name).exists() for name in RunLog.OWNED):
            raise RecworldError(
                f"{spec.run_dir}: already holds a run; choose another --out, "
                "or pass --overwrite to replace it"
            )


def _simulate_all(
    scenario: ComparableScenario,
    runs: Sequence[RunSpec],
    *,
    jobs: int,
    overwrite: bool,
    report: ProgressCallback | None,
) -> dict[RunSpec, int]:
    total = scenario.steps
    worlds = {spec: single_recommender(scenario, spec.recommender, spec.seed) for spec in runs}
    catalogue: dict[RunSpec, int] = {}
    if jobs == 1:
        for spec, world_scenario in worlds.items():
            step = (lambda done, s=spec: report(s, done, total)) if report else None
            if report:
                report(spec, 0, total)
            catalogue[spec] = simulate(
                world_scenario, spec.run_dir, overwrite=overwrite, on_step=step
            )
            if report:
                report(spec, total, total)
        return catalogue
    # "spawn": a forked child would inherit the parent's threads (torch, Chroma) mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {
            pool.submit(simulate, world_scenario, spec.run_dir, overwrite=overwrite): spec
            for spec, world_scenario in worlds.items()
        }
        for future in as_completed(futures):
            spec = futures[future]
            catalogue[spec] = future.result()
            if report:
                report(spec, total, total)
    return catalogue


# -- measuring ----------------------------------------------------------------------------


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
        metrics = run_metrics(spec.run_dir, catalogue_items=catalogue.get(spec))
        rows.append(
            {
                "recommender": spec.recommender,
                "seed": spec.seed,
                "run_dir": where.as_posix(),
                **metrics,
            }
        )
        curve = entropy_curve(spec.run_dir)
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


__all__ = [
    "METRICS",
    "CompareResult",
    "RunSpec",
    "check_recommenders",
    "compare",
    "entropy_curve",
    "measure",
    "plan",
    "run_metrics",
    "simulate",
    "single_recommender",
    "summarise",
]
