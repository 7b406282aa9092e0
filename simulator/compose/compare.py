"""Closed-loop A/B: the same seeded population under each recommender, across seeds.

A scenario's own ``arms`` split one population, so each recommender meets different
users. Here every run serves *one* recommender to everyone (``RunConfig.with_one_recommender``
clears ``arms`` and ``switches``), seed by seed; ``simulator.evaluation.paired`` measures
the runs from their directories and pairs them by seed.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from agents.collaborative import FAMILIES
from simulator.compose import on_ray
from simulator.compose.run import open_world
from simulator.config import RunConfig
from simulator.errors import RecworldError
from simulator.evaluation.family import FamilySensitivity, family_sensitivity
from simulator.evaluation.paired import CompareResult, RunSpec, measure
from simulator.progress import ProgressHook
from simulator.recommenders.registry import check_recommender_names
from simulator.runlog import RunLog

ProgressCallback = Callable[[RunSpec, int, int], None]
"""``(run, steps done, steps in all)``; ``done == total`` when the run has finished."""


def plan(recommenders: Sequence[str], seeds: Sequence[int], out_dir: str | Path) -> list[RunSpec]:
    """Every run, recommender by recommender: ``OUT/<recommender>/seed-<s>/``."""
    out = Path(out_dir)
    return [RunSpec(r, s, out / r / f"seed-{s}") for r in recommenders for s in seeds]


def simulate(
    config: RunConfig,
    run_dir: Path,
    *,
    overwrite: bool = False,
    on_step: Callable[[int], None] | None = None,
    progress: ProgressHook | None = None,
) -> int:
    """Run one world to its end, writing its run directory; returns the catalogue size.

    Module-level, so worker processes can pickle a call to it. ``progress`` hears the
    build's slow phases (``open_world``).
    """
    with open_world(config, run_dir=run_dir, overwrite=overwrite, progress=progress) as world:
        while world.running:
            world.step()
            if on_step is not None:
                on_step(world.steps)
        return len(world.items)


def compare(
    config: RunConfig,
    recommenders: Sequence[str],
    seeds: int,
    *,
    out_dir: str | Path,
    jobs: int = 1,
    ray: str | None = None,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    progress: ProgressHook | None = None,
) -> CompareResult:
    """Run ``config`` under each recommender for ``seeds`` seeds, measure, and save.

    Seeds are ``config.seed + i``. Each run serves one recommender to every user (the
    scenario's ``arms`` and ``switches`` are cleared) and is a normal run directory under
    ``OUT/<recommender>/seed-<s>/``; ``OUT`` also gets ``runs.csv``, ``summary.csv``,
    ``summary.json`` and ``entropy_curves.csv``. The first recommender is the baseline of
    the paired differences.

    Args:
        config: The run, with any overrides applied (``scenarios.load_scenario``).
        jobs: Worlds run at once, in separate processes; results are identical to
            ``jobs=1`` (each run is seeded on its own and measured from its directory).
            Each process loads its own LLM backend and embedder.
        ray: A Ray cluster's address: each run is a task there instead (``jobs`` is then
            unused); results are identical (``simulator.compose.on_ray``).
        overwrite: Replace run directories that already hold runs; otherwise they are
            refused before anything runs.
        on_progress: Called as runs advance: per step with ``jobs=1``, at the end of each
            run otherwise.
        progress: Hears each run's slow build phases (``open_world``), with ``jobs=1``
            only: worker processes and Ray tasks build out of its reach.

    Raises:
        RecworldError: An unknown or repeated recommender, fewer than one seed or job, or
            an ``OUT`` that already holds runs without ``overwrite``.
    """
    try:
        names = check_recommender_names(recommenders)
    except ValueError as exc:
        raise RecworldError(f"recommenders: {exc}") from None
    if seeds < 1:
        raise RecworldError(f"seeds: need at least 1 seed, got {seeds}")
    if jobs < 1:
        raise RecworldError(f"jobs: need at least 1 job, got {jobs}")
    seed_list = [config.seed + i for i in range(seeds)]
    runs = plan(names, seed_list, out_dir)
    if not overwrite:
        _refuse_existing(runs)
    catalogue = _simulate_all(
        config,
        runs,
        jobs=jobs,
        ray=ray,
        overwrite=overwrite,
        report=on_progress,
        progress=progress,
    )
    result = measure(runs, catalogue, out_dir=out_dir)
    result.save(out_dir)
    return result


def compare_families(
    config: RunConfig,
    recommenders: Sequence[str],
    seeds: int,
    families: Sequence[str],
    *,
    out_dir: str | Path,
    metric: str = "ctr",
    jobs: int = 1,
    ray: str | None = None,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
    progress: ProgressHook | None = None,
) -> tuple[dict[str, CompareResult], FamilySensitivity]:
    """``compare`` once per taste family, then the recommenders' ranking under each.

    Each family's comparison is a full ``compare`` under ``OUT/<family>/``, with the
    utility model's ``taste_family`` set to it; ``OUT`` gets ``families.csv`` and
    ``families.json`` (``simulator.evaluation.family``).

    Raises:
        RecworldError: An unknown or repeated family, a policy without a taste core (the
            LLM policy), or anything ``compare`` refuses.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families or len(set(families)) != len(families):
        raise RecworldError(
            f"taste families: got {', '.join(families) or 'none'}; name each once, "
            f"from {', '.join(FAMILIES)}"
        )
    if config.policy == "llm":
        raise RecworldError(
            "taste families: the llm policy has no taste core; use policy utility or hybrid"
        )
    out = Path(out_dir)
    results = {}
    for family in families:
        utility = {**config.utility, "taste_family": family}
        results[family] = compare(
            config.model_copy(update={"utility": utility}),
            recommenders,
            seeds,
            out_dir=out / family,
            jobs=jobs,
            ray=ray,
            overwrite=overwrite,
            on_progress=on_progress,
            progress=progress,
        )
    sensitivity = family_sensitivity(results, metric)
    sensitivity.save(out)
    return results, sensitivity


def _refuse_existing(runs: Sequence[RunSpec]) -> None:
    for spec in runs:
        if any((spec.run_dir / name).exists() for name in RunLog.OWNED):
            raise RecworldError(
                f"{spec.run_dir}: already holds a run; choose another --out, "
                "or pass --overwrite to replace it"
            )


def _simulate_all(
    config: RunConfig,
    runs: Sequence[RunSpec],
    *,
    jobs: int,
    overwrite: bool,
    report: ProgressCallback | None,
    ray: str | None = None,
    progress: ProgressHook | None = None,
) -> dict[RunSpec, int]:
    total = config.steps
    worlds = {spec: config.with_one_recommender(spec.recommender, spec.seed) for spec in runs}
    catalogue: dict[RunSpec, int] = {}
    if ray is not None:
        return on_ray.simulate_all(
            ray,
            simulate,
            {spec: (world, spec.run_dir) for spec, world in worlds.items()},
            overwrite=overwrite,
            done=(lambda spec: report(spec, total, total)) if report else None,
        )
    if jobs == 1:
        for spec, world_config in worlds.items():
            step = (lambda done, s=spec: report(s, done, total)) if report else None
            if report:
                report(spec, 0, total)
            catalogue[spec] = simulate(
                world_config, spec.run_dir, overwrite=overwrite, on_step=step, progress=progress
            )
            if report:
                report(spec, total, total)
        return catalogue
    # "spawn": a forked child would inherit the parent's threads (torch, Chroma) mid-state.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_leave_signals_to_the_parent
    )
    try:
        futures = {
            pool.submit(simulate, world_config, spec.run_dir, overwrite=overwrite): spec
            for spec, world_config in worlds.items()
        }
        for future in as_completed(futures):
            spec = futures[future]
            catalogue[spec] = future.result()
            if report:
                report(spec, total, total)
    except BaseException:
        # Ctrl-C, SIGTERM or a failed run: the runs still going are stopped, not waited
        # for (an executor can only wait); their folders keep every finished step.
        for child in multiprocessing.active_children():
            child.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return catalogue


def _leave_signals_to_the_parent() -> None:
    """In a worker: Ctrl-C and SIGTERM reach the whole process group; the parent decides
    (and stops the workers), so a worker does not die with a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
