"""``recworld compare``: closed-loop A/B of recommenders across seeds.

Each recommender serves the whole population in its own runs (the scenario's ``arms`` and
``switches`` are cleared), seed by seed, so differences between recommenders are paired
by seed. Running is in ``simulator.compose.compare``, the statistics in
``simulator.evaluation.paired``; this module parses options, shows progress and prints the
tables.
"""

from __future__ import annotations

import math
import shlex
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.cli.app import DataDir, app, console, fail, prepare_out, say
from simulator.cli.progress import PhaseDisplay
from simulator.errors import RecworldError

if TYPE_CHECKING:
    from simulator.config import RunConfig
    from simulator.evaluation.family import FamilySensitivity
    from simulator.evaluation.paired import CompareResult, RunSpec
    from simulator.stats import Estimate

# How each metric is printed; counts get thousands separators.
_FORMATS = {
    "ctr": ".3f",
    "watch_rate": ".3f",
    "mean_rating": ".2f",
    "pages_per_visit": ".2f",
    "page_limit_share": ".3f",
    "interview_score": ".2f",
    "final_entropy": ".3f",
    "exposure_gini": ".3f",
    "llm_tokens": ",.0f",
    "llm_calls": ",.0f",
}
_MAX_CURVE_ROWS = 12
NO_REVERSAL = (
    "no taste family reverses another's clear ordering of two recommenders "
    "(paired intervals over seeds)"
)


@app.command("compare")
def compare_command(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or a shipped name.")],
    recommenders: Annotated[
        str,
        typer.Option(help="Comma-separated recommender names; the first is the baseline."),
    ],
    seeds: Annotated[
        int, typer.Option(min=1, help="Seeds per recommender: the scenario's seed + 0, 1, ...")
    ] = 5,
    steps: Annotated[int | None, typer.Option(help="Override the number of steps.")] = None,
    users: Annotated[int | None, typer.Option(help="Override the population size.")] = None,
    llm: Annotated[str | None, typer.Option(help="LLM backend, BACKEND[:MODEL].")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the runs and the summary.")] = None,
    data_dir: DataDir = None,
    jobs: Annotated[int, typer.Option(min=1, help="Runs at once, in separate processes.")] = 1,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run each run as a task on this Ray cluster (auto, HOST:PORT or "
            "ray://HOST:PORT) instead of --jobs; needs recworld[ray].",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace runs already in --out.")] = False,
    taste_families: Annotated[
        str | None,
        typer.Option(
            help="Also run the comparison under these taste-core families (comma-separated: "
            "ease, item-knn, als) and say when the winner depends on the family.",
        ),
    ] = None,
    family_metric: Annotated[
        str, typer.Option(help="With --taste-families: the metric a winner is best at.")
    ] = "ctr",
) -> None:
    """Run a scenario under each recommender for several seeds; report means, 95% CIs and
    paired differences against the first recommender."""
    from scenarios.loader import load_scenario
    from simulator.compose.compare import compare, compare_families
    from simulator.evaluation.closed_loop import METRICS
    from simulator.llm.registry import parse_llm_spec
    from simulator.recommenders.registry import check_recommender_names

    backend, model = parse_llm_spec(llm) if llm else (None, None)
    try:
        try:
            names = check_recommender_names(recommenders.split(","))
        except ValueError as exc:
            raise RecworldError(f"--recommenders: {exc}") from None
        sc = load_scenario(
            scenario,
            steps=steps,
            data_dir=str(data_dir) if data_dir else None,
            **{"population.size": users, "llm.backend": backend, "llm.model": model},
        )
        out_dir = (
            out or Path(sc.output or "runs") / f"compare-{sc.name}-{datetime.now():%Y%m%d-%H%M%S}"
        )
        prepare_out(out_dir)
        if sc.arms or sc.switches:
            say("note:", _cleared(sc))
        if sc.llm.backend == "scripted" and sc.policy != "utility":
            say(
                "LLM: scripted backend",
                "(deterministic stand-in answers, no model). Use --llm to pick a real one.",
            )
        families = [f.strip() for f in taste_families.split(",")] if taste_families else []
        if family_metric not in METRICS:
            raise RecworldError(
                f"--family-metric: unknown metric {family_metric!r}; choose one of "
                f"{', '.join(METRICS)}"
            )
        command = _resolved_command(
            scenario, names, seeds, sc.steps, sc.population.size, llm, out_dir, data_dir, jobs
        )
        if ray:
            command += " " + shlex.join(["--ray", ray])
        if families:
            command += " " + shlex.join(
                ["--taste-families", ",".join(families), "--family-metric", family_metric]
            )
        started = time.perf_counter()
        if families:
            with _RunProgress(len(names) * seeds * len(families)) as report:
                results, sensitivity = compare_families(
                    sc,
                    names,
                    seeds,
                    families,
                    out_dir=out_dir,
                    metric=family_metric,
                    jobs=jobs,
                    ray=ray,
                    overwrite=overwrite,
                    on_progress=report,
                    progress=report.phases,
                )
            (out_dir / "command.txt").write_text(command + "\n")
            for family, result in results.items():
                _print_result(result, f"{sc.name} ({family} taste core)", None, curves=False)
            _print_families(sensitivity, time.perf_counter() - started)
            return
        with _RunProgress(len(names) * seeds) as report:
            result = compare(
                sc,
                names,
                seeds,
                out_dir=out_dir,
                jobs=jobs,
                ray=ray,
                overwrite=overwrite,
                on_progress=report,
                progress=report.phases,
            )
        (out_dir / "command.txt").write_text(command + "\n")
    except RecworldError as exc:
        fail(exc)
    _print_result(result, sc.name, time.perf_counter() - started)


def _cleared(sc: RunConfig) -> str:
    """The notice for a scenario whose arms and switches compare sets aside."""
    parts = []
    if sc.arms:
        parts.append(f"A/B arms ({', '.join(sc.arm_names)})")
    if sc.switches:
        parts.append(f"switches (at steps {', '.join(str(s.at_step) for s in sc.switches)})")
    return (
        f"{sc.name}'s {' and '.join(parts)} are cleared: each run serves one recommender "
        "to every user."
    )


def _resolved_command(
    scenario: str,
    names: list[str],
    seeds: int,
    steps: int,
    users: int | None,
    llm: str | None,
    out_dir: Path,
    data_dir: Path | None,
    jobs: int,
) -> str:
    """The command with every default spelled out, to rerun the comparison exactly."""
    args = ["recworld", "compare", scenario, "--recommenders", ",".join(names)]
    args += ["--seeds", str(seeds), "--steps", str(steps)]
    args += ["--users", str(users)] if users is not None else []
    args += ["--llm", llm] if llm else []  # the scenario's own llm block otherwise
    args += ["--data-dir", str(data_dir)] if data_dir else []
    args += ["--out", str(out_dir), "--jobs", str(jobs)]
    return shlex.join(args)


class _RunProgress:
    """A rich progress display: one bar for all runs, one per run (per step with --jobs 1),
    and the running run's slow build phases (``phases``, with --jobs 1)."""

    def __init__(self, total_runs: int) -> None:
        self.bars = Progress(
            TextColumn("{task.description}", markup=False),  # labels are scenario data
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.phases = PhaseDisplay(progress=self.bars)
        self.total_runs = total_runs
        self.tasks: dict[RunSpec, int] = {}
        self.finished: set[RunSpec] = set()

    def __enter__(self) -> _RunProgress:
        self.bars.start()
        self.phases.__enter__()
        self.all = self.bars.add_task("runs", total=self.total_runs)
        return self

    def __exit__(self, *exc: object) -> None:
        self.phases.__exit__(*exc)
        self.bars.stop()

    def __call__(self, spec: RunSpec, done: int, total: int) -> None:
        if spec not in self.tasks:
            self.tasks[spec] = self.bars.add_task(f"  {spec.label}", total=total)
        self.bars.update(self.tasks[spec], completed=done)
        if done == total and spec not in self.finished:
            self.finished.add(spec)
            self.bars.advance(self.all)


def _cell(est: Estimate, fmt: str, *, difference: bool = False) -> str:
    if est.n == 0 or not math.isfinite(est.mean):
        return "-"
    sign = "+" if difference else ""
    text = f"{est.mean:{sign}{fmt}}"
    if est.n >= 2 and math.isfinite(est.low):
        text += f" ± {est.half_width:{fmt}}"
        if difference and (est.low > 0 or est.high < 0):
            text += " *"
    return text


FEW_SEEDS = 5
"""Below this many seeds, compare says how wide its intervals must be."""


def few_seeds_warning(n: int, level: float) -> str:
    """Why intervals over ``n`` seeds are wide: the t multiplier of ``n - 1`` degrees."""
    from scipy.stats import t

    multiplier = float(t.ppf(0.5 + level / 2, n - 1))
    return (
        f"{n} seeds: each ± is {multiplier:.1f} standard errors wide (the t quantile at "
        f"{n - 1} degree{'s' if n > 2 else ''} of freedom), and may run past what the metric "
        f"can take; use --seeds {FEW_SEEDS} or more to tell recommenders apart"
    )


def _print_families(sensitivity: FamilySensitivity, seconds: float) -> None:
    """The recommenders' rank under each taste family, then what it means."""
    from simulator.evaluation.closed_loop import METRICS

    t = sensitivity.table
    table = Table(
        title=f"rank by {METRICS[sensitivity.metric]} under each taste family",
        caption=f"rank (mean); all runs in {seconds:.1f} s",
    )
    table.add_column("recommender")
    families = list(dict.fromkeys(t["family"]))
    for family in families:
        table.add_column(family, justify="right")
    cells = {(r.family, r.recommender): r for r in t.itertuples()}
    for rec in dict.fromkeys(t["recommender"]):
        row = []
        for family in families:
            cell = cells[(family, rec)]
            row.append(f"{cell.rank} ({cell.mean:{_FORMATS[sensitivity.metric]}})")
        table.add_row(rec, *row)
    console.print(table)
    for finding in sensitivity.findings or (NO_REVERSAL,):
        say("family:", finding)


def _print_result(
    result: CompareResult, name: str, seconds: float | None, *, curves: bool = True
) -> None:
    from simulator.evaluation.closed_loop import METRICS

    seeds = result.seeds
    seed_text = f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    table = Table(
        title=f"{name}: {len(result.runs)} runs ({seed_text}){timing}",
        caption=(
            f"mean ± half-width of the {result.level:.0%} t interval across seeds. "
            "click-through: watched / exposed; genre entropy: bits, of each visitor's "
            "exposures; Gini: exposures over the whole catalogue; tokens: prompt + completion"
        ),
    )
    table.add_column("metric")
    for rec in result.recommenders:
        table.add_column(rec, justify="right")
    for metric, label in METRICS.items():
        cells = [_cell(result.estimate(r, metric), _FORMATS[metric]) for r in result.recommenders]
        table.add_row(label, *cells)
    console.print(table)
    if 1 < len(seeds) < FEW_SEEDS:
        say("note:", few_seeds_warning(len(seeds), result.level))

    if len(result.recommenders) > 1:
        base = result.baseline
        diffs = Table(
            title=f"paired differences against {base} (same seed = same population)",
            caption="* the interval excludes 0",
        )
        diffs.add_column("metric")
        for rec in result.recommenders[1:]:
            diffs.add_column(f"{rec} − {base}", justify="right")
        for metric, label in METRICS.items():
            cells = [
                _cell(result.estimate(r, metric, base), _FORMATS[metric], difference=True)
                for r in result.recommenders[1:]
            ]
            diffs.add_row(label, *cells)
        console.print(diffs)

    if curves:
        _print_curves(result)
    if result.out_dir is not None:
        console.print(
            f"written to {result.out_dir}: runs.csv, summary.csv, summary.json, "
            "entropy_curves.csv, command.txt and one run directory per run"
        )


def _print_curves(result: CompareResult) -> None:
    """Genre entropy per step; long runs show evenly spaced steps, the last included."""
    from simulator.stats import Estimate

    curves = result.curves
    steps = sorted(curves["step"].unique())
    if not steps:
        return
    if len(steps) > _MAX_CURVE_ROWS:
        picks = {
            round(i * (len(steps) - 1) / (_MAX_CURVE_ROWS - 1)) for i in range(_MAX_CURVE_ROWS)
        }
        steps = [steps[i] for i in sorted(picks)]
    table = Table(title="genre entropy of exposures by step (bits; the filter bubble)")
    table.add_column("step", justify="right")
    for rec in result.recommenders:
        table.add_column(rec, justify="right")
    cells = {
        (r.recommender, r.step): Estimate(r.mean, r.low, r.high, r.n) for r in curves.itertuples()
    }
    for step in steps:
        row = [
            _cell(cells[(rec, step)], ".3f") if (rec, step) in cells else "-"
            for rec in result.recommenders
        ]
        table.add_row(str(step), *row)
    console.print(table)
