"""``recworld run``, ``scenarios`` and ``calibrate``: running and tuning simulations."""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.cli.app import Columns, DataDir, app, console, load_data, say
from simulator.cli.app import fail as _fail
from simulator.cli.dashboard import DEFAULT_HOST, DEFAULT_PORT, Host, Port, serve_live
from simulator.cli.progress import PhaseDisplay
from simulator.errors import RecworldError


@app.command()
def run(
    scenario: Annotated[
        str | None, typer.Argument(help="A scenario file, or a shipped name.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Override the number of steps.")] = None,
    users: Annotated[int | None, typer.Option(help="Override the population size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    llm: Annotated[str | None, typer.Option(help="LLM backend, BACKEND[:MODEL].")] = None,
    data_dir: DataDir = None,
    cache: Annotated[
        Path | None, typer.Option(help="SQLite response cache; a rerun replays it.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace logs already in --out.")] = False,
    resume: Annotated[
        Path | None,
        typer.Option(help="Finish a stopped run: replay its finished steps, then go on."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run the users in shards on this Ray cluster (auto, HOST:PORT or "
            "ray://HOST:PORT); needs recworld[ray].",
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(min=1, help="Split the users into this many shards (one CPU each)."),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(help="Step the world from a browser dashboard (needs recworld\\[viz])."),
    ] = False,
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
) -> None:
    """Run a scenario and write its logs to a run directory (or finish one, --resume)."""
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.llm.registry import parse_llm_spec

    if resume is not None:
        given = {
            "SCENARIO": scenario, "--steps": steps, "--users": users, "--seed": seed,
            "--out": out, "--llm": llm, "--data-dir": data_dir, "--cache": cache,
            "--overwrite": overwrite or None, "--ray": ray, "--shards": shards,
            "--dashboard": dashboard or None,
        }  # fmt: skip
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            _fail(f"--resume finishes a run as it was configured; drop {', '.join(extra)}")
        _resume(resume)
        return
    if scenario is None:
        _fail("give a SCENARIO (a file or a shipped name; see `recworld scenarios`), or --resume")
    backend, model = parse_llm_spec(llm) if llm else (None, None)
    try:
        sc = load_scenario(
            scenario,
            steps=steps,
            seed=seed,
            data_dir=str(data_dir) if data_dir else None,
            **{
                "population.size": users,
                "llm.backend": backend,
                "llm.model": model,
                "llm.cache": str(cache) if cache else None,
                "executor.kind": "ray" if ray else None,
                "executor.address": ray,
                "executor.shards": shards,
            },
        )
        run_dir = out or Path(sc.output or "runs") / f"{sc.name}-{datetime.now():%Y%m%d-%H%M%S}"
        for line in sc.unreached():
            say("note:", line)
        if sc.llm.backend == "scripted" and sc.policy != "utility":
            say(
                "LLM: scripted backend",
                "(deterministic stand-in answers, no model). Use --llm to pick a real one.",
            )
        if dashboard:  # the page steps the world, and a Reset builds it again
            serve_live(
                lambda again: open_world(sc, run_dir=run_dir, overwrite=overwrite or again),
                host=host,
                port=port,
            )
            return
        started = time.perf_counter()
        with PhaseDisplay() as phases:
            world = open_world(sc, run_dir=run_dir, overwrite=overwrite, progress=phases)
        with world:
            _run_with_progress(world)
            _summary(world, run_dir, time.perf_counter() - started)
    except RecworldError as exc:
        _fail(exc)


def _resume(run_dir: Path) -> None:
    from simulator.compose import resume_world

    started = time.perf_counter()
    try:
        with PhaseDisplay() as phases:
            world = resume_world(run_dir, progress=phases)
        with world:
            say("resumed:", f"{world.steps} finished steps replayed and checked against the logs")
            _run_with_progress(world)
            _summary(world, run_dir, time.perf_counter() - started)
    except RecworldError as exc:
        _fail(exc)


def _run_with_progress(world) -> None:
    columns = (
        TextColumn("[bold]step"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("active {task.fields[active]}"),
        TextColumn("LLM calls {task.fields[calls]} ({task.fields[hits]} cached)"),
        TextColumn("failed {task.fields[failures]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            "run",
            total=world.settings.steps,
            completed=world.steps,  # a resumed run starts past its replayed steps
            active=0,
            calls=0,
            hits=0,
            failures=0,
            tps="-",
        )
        # The scripted backend reads no tokens: its counts are estimates and its "latency"
        # the time to look answers up, so a rate would be meaningless.
        measured = world.llm.backend.name != "scripted"
        while world.running:
            world.step()
            stats = world.llm.stats
            tokens = stats.prompt_tokens + stats.completion_tokens
            tps = f"{tokens / stats.latency_s:.0f}" if measured and stats.latency_s else "-"
            progress.update(
                task,
                completed=world.steps,
                active=world.last.active,
                calls=stats.calls,
                hits=stats.cache_hits,
                failures=stats.failures,
                tps=tps,
            )


def _summary(world, run_dir: Path, seconds: float) -> None:
    from simulator.engagement import log_totals
    from simulator.runlog import read_interactions

    m = world.metrics()
    stats = world.llm.stats
    table = Table(title=f"{world.name}: {world.steps} steps in {seconds:.1f} s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    # Pooled over the whole log, as `report` and `compare` compute them; per arm too when
    # the run served several recommenders (a pooled A/B figure describes no arm).
    log = read_interactions(run_dir)
    totals = log_totals(log).iloc[0]
    rows = [
        ("users simulated", f"{len(world.users)}"),
        ("visits", f"{int(m['active_users'].sum())}"),
        ("exposures", f"{int(totals['exposures'])}"),
        ("click-through (watches / exposures)", _number(totals["ctr"], ".3f")),
        ("mean rating", _number(totals["mean_rating"], ".2f")),
    ]
    if log["recommender"].nunique() > 1:
        rows[2:] = [("exposures, all arms", rows[2][1])]
        for arm, arm_totals in log_totals(log, by="recommender").iterrows():
            rows += [
                (f"{arm}: exposures", f"{int(arm_totals['exposures'])}"),
                (f"{arm}: click-through", _number(arm_totals["ctr"], ".3f")),
                (f"{arm}: mean rating", _number(arm_totals["mean_rating"], ".2f")),
            ]
    used = stats.calls > 0 or stats.cache_hits > 0
    rows += [
        ("pages per visit", f"{m['pages_per_visit'].mean():.2f}"),
        ("LLM", world.llm.label if used else f"{world.llm.label} (not asked: no LLM call)"),
        ("LLM calls / batches", f"{stats.calls} / {stats.batches}"),
        ("tokens (prompt + completion)", f"{stats.prompt_tokens} + {stats.completion_tokens}"),
        ("LLM failures", f"{stats.failures}"),
        ("ended by", "terminated" if world.terminated else "truncated"),
        ("run directory", str(run_dir)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _number(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else f"{value:{fmt}}"


@app.command("scenarios")
def list_scenarios() -> None:
    """List the scenarios shipped with recworld."""
    from scenarios.loader import load_scenario, shipped_scenarios

    shipped = [(name, load_scenario(path)) for name, path in sorted(shipped_scenarios().items())]
    table = Table(title="shipped scenarios")
    for col in ("name", "dataset", "users", "steps", "recommender"):
        table.add_column(col, no_wrap=col != "recommender")
    for name, sc in shipped:
        table.add_row(
            name,
            sc.dataset.kind,
            "all" if sc.population.size is None else str(sc.population.size),
            str(sc.steps),
            " vs ".join(arm.display for arm in sc.arms) if sc.arms else sc.recommender.name,
        )
    console.print(table)
    for name, sc in shipped:  # below the table, so that it stays narrow enough for 80 columns
        console.print(f"{name}: {sc.description}")


@app.command()
def calibrate(
    data: Annotated[str, typer.Argument(help="Dataset folder (e.g. ../shared/data/ml-100k).")],
    out: Annotated[Path, typer.Option(help="Where to write the fitted parameters (JSON).")],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    target_ctr: Annotated[
        float,
        typer.Option(
            help="Share of pages with a watch. (A run's click-through is watches per "
            "exposure: one watch on a page of ten is 0.1 there.)"
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option(help="Seed of the calibration samples (and of the fidelity split).")
    ] = 0,
    fidelity_split: Annotated[
        bool,
        typer.Option(
            help="Fit only on the training part of `recworld fidelity`'s cases (the same "
            "--users, --positives, --rated, --min-history and --seed)."
        ),
    ] = False,
    users: Annotated[int, typer.Option(help="With --fidelity-split: held-out users.")] = 100,
    positives: Annotated[
        int, typer.Option(help="With --fidelity-split: liked items withheld per user.")
    ] = 5,
    rated: Annotated[
        int, typer.Option(help="With --fidelity-split: further ratings withheld per user.")
    ] = 10,
    min_history: Annotated[
        int, typer.Option(help="With --fidelity-split: interactions a held-out user keeps.")
    ] = 10,
) -> None:
    """Fit the utility policy to a dataset's click and rating statistics."""
    from simulator.calibration import calibrate as fit
    from simulator.fidelity.cases import CaseConfig, build_cases

    try:
        dataset = load_data(data, kind, data_dir, columns)
        split = None
        if fidelity_split:
            config = CaseConfig(
                users=users, positives=positives, rated=rated, min_history=min_history, seed=seed
            )
            dataset, split = build_cases(dataset, config).train, config.split()
        result = fit(dataset, target_ctr=target_ctr, seed=seed)
    except RecworldError as exc:
        _fail(exc)
    result = result.model_copy(update={"split": split})
    result.save(out)
    table = Table(title=f"utility policy calibrated on {dataset.name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "pages with a watch (target / simulated)",
        f"{target_ctr:.3f} / {result.simulated_ctr:.3f}",
    )
    if split is not None:
        table.add_row("fitted on", "the fidelity suite's training part")
    if result.tv_distance is not None:
        table.add_row("rating TV distance", f"{result.tv_distance:.4f}")
        for level, real, sim in zip(
            result.rating_levels, result.real_ratings, result.simulated_ratings, strict=True
        ):
            table.add_row(f"rating {level:g} (real / simulated)", f"{real:.3f} / {sim:.3f}")
    table.add_row("written to", str(out))
    console.print(table)
    console.print(f"use it with: utility: {{calibration: {out}}} and policy: utility")
