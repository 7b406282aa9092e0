"""A run, composed: a ``RunConfig`` becomes a population, parts and a running ``World``.

This is the composition root. Everything random here draws from the build and component
streams of ``RunSeeds``, in a fixed order, so the same configuration and seed always give
the same parts; the world draws its own streams from the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agents.actions import Action, BrowseAction, PickAction
from agents.domain import domain_of
from agents.hybrid import HybridPolicy
from agents.policy import LLMPolicy, Policy
from agents.profile import UserProfile
from agents.social import SocialGraph
from agents.utility import UtilityModel, UtilityPolicy
from memory.stream import MemoryStream
from scenarios.profiles import item_profiles, pareto_activity, user_profiles
from simulator.compose.components import (
    build_arms,
    build_llm,
    build_memory_store,
    build_recommender,
    load_config_dataset,
    utility_params,
)
from simulator.compose.shards import SharedParts, build_shards
from simulator.config import ArrivalSpec, RunConfig
from simulator.dataset import Dataset, rating_scale
from simulator.errors import RecworldError
from simulator.llm.runtime import LLMRuntime
from simulator.progress import ProgressHook, phase
from simulator.recommenders.base import Recommender
from simulator.runlog import RunLog
from simulator.seeding import RunSeeds
from simulator.types import LLM
from simulator.world import World, WorldParts


def open_world(
    config: RunConfig,
    *,
    run_dir: str | Path | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    llm: LLM | None = None,
    progress: ProgressHook | None = None,
    arms: Mapping[str, Recommender] | None = None,
) -> World:
    """Build every part of ``config`` and the world that runs them.

    Args:
        config: The run; ``scenarios.load_scenario`` reads one from a scenario file.
        run_dir: Where logs (and an embedded Chroma store) go; ``None`` keeps the run in
            memory. A folder that already holds a run is refused before anything is built,
            and nothing is created in it until the parts are built: a run that fails to
            build leaves the folder as it found it (a folder it created is removed).
        overwrite: Replace a run already in ``run_dir``.
        seed: Overrides ``config.seed``; ``config.yaml`` records the seed used.
        llm: A ready backend in place of the one ``config.llm`` names (a test double).
        progress: Hears each slow phase of the build as it starts and finishes
            (``simulator.progress``); nothing is reported without it.
        arms: Ready recommenders by arm name in place of the ones ``config`` names (an
            environment's agent, for one); users are spread over them as over arms.

    Returns:
        The world, ready to ``step``; close it (or use it as a context manager).
    """
    seed = config.seed if seed is None else seed
    if seed != config.seed:
        config = config.model_copy(update={"seed": seed})
    out = Path(run_dir) if run_dir is not None else None
    if out is None:
        parts, shards = None, None
        try:
            parts = build_parts(config, RunSeeds(seed), llm=llm, progress=progress, arms=arms)
            shards = build_shards(config, seed, build_parts, llm=llm, shared=SharedParts.of(parts))
            return World(
                parts,
                config.settings,
                seed=seed,
                name=config.name,
                shards=shards,
                progress=progress,
            )
        except BaseException:
            if shards is not None:
                shards.close()
            if parts is not None:
                parts.close()
            raise
    created = _make_folder(out)
    lock, claimed, parts, shards = None, False, None, None
    try:
        lock = RunLog.lock(out)
        RunLog.claim(out, overwrite=overwrite)  # before anything of this run is written
        claimed = True
        parts = build_parts(
            config, RunSeeds(seed), run_dir=out, llm=llm, progress=progress, arms=arms
        )
        shards = build_shards(
            config, seed, build_parts, run_dir=out, llm=llm, shared=SharedParts.of(parts)
        )
        log = RunLog(out, lock=lock)
        log.write_config(config.model_dump(mode="json"))
        return World(
            parts,
            config.settings,
            seed=seed,
            log=log,
            name=config.name,
            shards=shards,
            progress=progress,
        )
    except BaseException:
        if shards is not None:
            shards.close()
        if parts is not None:
            parts.close()
        if lock is not None:
            lock.release()
        RunLog.remove_partial(out, created=created, owned=claimed)
        raise


def resume_world(
    run_dir: str | Path, *, llm: LLM | None = None, progress: ProgressHook | None = None
) -> World:
    """Reopen a stopped run to finish it: its finished steps are replayed, each checked
    against its logs row for row, and the world is ready for the next step.

    Nothing but the logs is needed: a run is deterministic given its configuration and
    seed, so replaying rebuilds every agent, item, recommender, random stream and memory
    exactly. A model's answers come back the same from a deterministic backend (scripted,
    or scored choices) or from ``llm.cache``; a replay that differs is refused.
    ``progress`` hears each slow phase, as ``open_world``'s does, and the replay.

    Raises:
        RecworldError: ``run_dir`` is not a run, another process holds it, or the replay
            differs from the logs.
    """
    folder = Path(run_dir)
    if not (folder / "config.yaml").is_file():
        if any((folder / name).exists() for name in RunLog.OWNED):
            raise RecworldError(
                f"{folder}: the run stopped before its first step was built; start it again "
                "(its scenario with --out here and --overwrite)"
            )
        raise RecworldError(f"{folder}: no config.yaml here; --resume takes a run folder")
    config = RunConfig.read(folder / "config.yaml")
    lock = RunLog.lock(folder)
    try:
        done = RunLog.finished_steps(folder)
        RunLog.drop_after(folder, done)
        parts = build_parts(
            config, RunSeeds(config.seed), run_dir=folder, llm=llm, progress=progress
        )
    except BaseException:
        lock.release()
        raise
    world = None
    try:
        shards = build_shards(
            config,
            config.seed,
            build_parts,
            run_dir=folder,
            llm=llm,
            shared=SharedParts.of(parts),
        )
        log = RunLog(folder, lock=lock, replay_until=done)
        world = World(
            parts,
            config.settings,
            seed=config.seed,
            log=log,
            name=config.name,
            shards=shards,
            progress=progress,
        )
        with phase(progress, f"replaying {done} finished steps"):
            world.run(done)
        if done:
            world.restore_metrics(pd.read_parquet(folder / "metrics.parquet"))
        return world
    except BaseException:
        if world is not None:
            world.close()
        else:
            parts.close()
            lock.release()
        raise


def _make_folder(out: Path) -> Path | None:
    """The run folder, made now so an unwritable place fails in one line, not inside a
    store; returns the topmost folder this made (``None`` if ``out`` existed), which a
    failed build removes again."""
    missing = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecworldError(
            f"{out}: cannot create the run folder ({exc.strerror or exc}); choose a writable --out"
        ) from None
    return missing[-1] if missing else None


def build_parts(
    config: RunConfig,
    seeds: RunSeeds,
    *,
    run_dir: Path | None = None,
    llm: LLM | None = None,
    progress: ProgressHook | None = None,
    arms: Mapping[str, Recommender] | None = None,
    shared: SharedParts | None = None,
) -> WorldParts:
    """Load the data, draw the population and build every component, seeded.

    ``arms`` replaces the configured recommenders (see ``open_world``). A shard gets the
    driver's ``shared`` parts: the data, population, catalogue, social graph and fitted
    utility model are taken from there instead of built again.

    Whatever was opened (the LLM backend, the memory store) is closed again if a later
    part fails to build. ``progress`` hears each slow phase (see ``open_world``).
    """
    items, social, model = None, None, None  # built below unless the driver's are given
    if shared is None:
        dataset, arriving, profiles, activity = _population(config, seeds, progress)
        arrivals = {config.arrivals.at_step: arriving} if arriving is not None else {}
    else:
        dataset, profiles, activity = shared.dataset, shared.users, shared.activity
        arrivals, items, social, model = shared.arrivals, shared.items, shared.social, shared.model
    component = seeds.component
    arms = dict(arms) if arms is not None else build_arms(config, component, progress=progress)
    switches = {
        s.at_step: build_recommender(s.recommender, component, progress=progress)
        for s in config.switches
    }
    with ExitStack() as opened:
        with phase(progress, f"starting the LLM backend {config.llm.backend}"):
            backend = llm if llm is not None else build_llm(config.llm, component, progress)
            runtime = LLMRuntime(backend)
            opened.callback(runtime.close)
            if config.uses_llm:
                runtime.check()
        memory_phase = (
            f"opening the memory store ({config.memory.backend}, {config.memory.embedder})"
        )
        with phase(progress, memory_phase):
            store = build_memory_store(config.memory, run_dir)
            opened.callback(store.close)
        memory = MemoryStream(store, runtime if config.uses_llm else None, config.memory.stream)
        if social is None and dataset.social is not None:
            social = SocialGraph.from_edges(dataset.social)
        if not social:  # no edges in the data: a generated graph
            with phase(progress, f"generating a social graph of {len(profiles):,} users"):
                social = SocialGraph.generate(
                    [p.user_id for p in profiles],
                    seeds.social(),
                    favourite_genres={p.user_id: p.favourite_genres for p in profiles},
                )
        order = seeds.arms().permutation(len(profiles))
        names = list(arms)
        parts = WorldParts(
            dataset=dataset,
            users=profiles,
            items=items if items is not None else item_profiles(dataset),
            arms=arms,
            arm_of={profiles[i].user_id: names[n % len(names)] for n, i in enumerate(order)},
            llm=runtime,
            policy=build_policy(
                config,
                dataset,
                runtime,
                seed=seeds.seed,
                progress=progress,
                model=model,
            ),
            memory=memory,
            social=social,
            decisions=config.llm.decision_mode,
            uses_llm=config.uses_llm,
            activity=activity,
            switches=switches,
            arrivals=arrivals,
        )
        opened.pop_all()
    return parts


def _population(
    config: RunConfig, seeds: RunSeeds, progress: ProgressHook | None
) -> tuple[Dataset, pd.DataFrame | None, list[UserProfile], list[float] | None]:
    """The data (less held-back arrivals), the arrivals, the users' profiles and their
    activity, drawn from the build stream in a fixed order."""
    rng = seeds.build()
    with phase(progress, f"loading dataset {config.dataset.path or config.dataset.kind}"):
        dataset = load_config_dataset(config.dataset, config.data_dir)
    if config.population.sampling == "first" and config.population.size:
        users = dataset.users.head(config.population.size)
    else:
        users = dataset.sample_users(config.population.size, rng).users
    dataset, arriving = hold_back_new_items(dataset, config.arrivals, rng)
    with phase(progress, f"building {len(users):,} user profiles"):
        profiles = user_profiles(users, dataset, rng, config.traits.model_dump())
        activity = None
        if config.activation.mode == "pareto":
            activity = pareto_activity(
                profiles, rng, alpha=config.activation.alpha, mean=config.activation.mean
            )
    return dataset, arriving, profiles, activity


def build_policy(
    config: RunConfig,
    dataset: Dataset,
    llm: LLMRuntime,
    *,
    seed: int,
    progress: ProgressHook | None = None,
    model: UtilityModel | None = None,
) -> Policy:
    """The configured policy: ``llm``, the no-LLM ``utility`` model, or ``hybrid``; LLM
    prompts use the dataset's own words ("films"/"watch", "CDs"/"listen to", ...). Fitting
    the utility model's taste core is a phase ``progress`` hears of; a shard passes the
    driver's fitted ``model`` instead."""
    domain = domain_of(dataset.name, dataset.meta)
    scale = rating_scale(dataset)  # every policy logs its ratings on the data's own levels
    if config.llm.decision_mode == "choice":
        browse: Action = PickAction(domain=domain, scale=scale)
    else:
        browse = BrowseAction(domain=domain, scale=scale)
    if config.policy == "llm":
        return LLMPolicy(llm, browse)
    if model is None:
        with phase(progress, "fitting the taste core"):
            model = UtilityModel.from_dataset(dataset, utility_params(config))
    utility = UtilityPolicy(model, seed=seed, scale=scale)
    if config.policy == "utility":
        return utility
    return HybridPolicy(
        utility,
        LLMPolicy(llm, browse),
        band=config.hybrid.band,
        llm_weight=config.hybrid.llm_weight,
    )


def hold_back_new_items(
    dataset: Dataset, arrivals: ArrivalSpec | None, rng: np.random.Generator
) -> tuple[Dataset, pd.DataFrame | None]:
    """Cold start: a share of the catalogue is kept out, with its history, until it arrives."""
    if arrivals is None:
        return dataset, None
    n = max(1, round(arrivals.items * len(dataset.items)))
    new = rng.choice(len(dataset.items), size=n, replace=False)
    arriving = dataset.items.iloc[np.sort(new)].reset_index(drop=True)
    ids = set(arriving["item_id"])
    items = dataset.items[~dataset.items["item_id"].isin(ids)].reset_index(drop=True)
    inter = dataset.interactions[~dataset.interactions["item_id"].isin(ids)]
    return replace(dataset, items=items, interactions=inter.reset_index(drop=True)), arriving
