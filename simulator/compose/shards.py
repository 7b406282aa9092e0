"""The user side of a sharded world: one copy per shard, in this process or on Ray.

Each shard is a ``World`` built from the same config and seed as the driver (so its
population, items, policy and LLM client are the driver's), in the role of shard ``k``:
it runs ``World.visit`` for the active users of its block and fits no recommender. The
driver (``World`` with ``shards``) keeps the recommenders, the item agents and the logs;
each step it sends each shard its users' slates and joins the visits it gets back
(``simulator.world.Visit``). Per-user draws (``simulator.seeding.user_uniforms``) make a
user's behaviour independent of which shard runs it, so the logs are those of one process.

Every shard builds its LLM client, memory store and users' agents itself, but takes what a
run builds the same from its config and seed from the driver (``SharedParts``): the data,
the population's profiles, the catalogue, the social graph and the fitted utility model.
So no shard loads the data or fits the taste core again; local shards share the driver's
objects, and Ray shards receive one copy through Ray's object store.

A shard's memories stay with the shard: embedded Chroma under ``RUN/shards/shard-K/`` for
local shards, in a temporary folder on its node for Ray shards (one collection per shard
on a Chroma server). Ray is imported only for ``executor.kind: ray``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from agents.profile import ItemProfile, UserProfile
from agents.social import SocialGraph
from agents.utility import UtilityModel, UtilityPolicy
from simulator.compose import on_ray
from simulator.config import RunConfig
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.seeding import RunSeeds
from simulator.types import LLM
from simulator.world import Forwarded, ShardRole, Slates, Visit, World, WorldParts

BuildParts = Callable[..., WorldParts]
"""``build_parts(config, seeds, run_dir=..., llm=..., shared=...)`` of
``simulator.compose.run``."""


@dataclass(frozen=True)
class SharedParts:
    """What a shard takes from the driver instead of building it again: everything that
    the run's config and seed decide before any LLM or memory store is opened.

    Attributes:
        dataset: The platform's log and catalogue.
        users: The population's profiles, in population order.
        activity: Each user's visit probability, when the population draws one.
        items: The catalogue as item agents present it.
        social: The social graph.
        model: The fitted utility model (taste core included), None for the LLM policy.
        arrivals: The held-back items, by the step they arrive at.
    """

    dataset: Dataset
    users: list[UserProfile]
    activity: list[float] | None
    items: list[ItemProfile]
    social: SocialGraph
    model: UtilityModel | None
    arrivals: dict[int, pd.DataFrame]

    @classmethod
    def of(cls, parts: WorldParts) -> SharedParts:
        policy = parts.policy
        return cls(
            dataset=parts.dataset,
            users=parts.users,
            activity=parts.activity,
            items=parts.items,
            social=parts.social,
            model=policy.model if isinstance(policy, UtilityPolicy) else None,
            arrivals=parts.arrivals,
        )


def build_shards(
    config: RunConfig,
    seed: int,
    build: BuildParts,
    *,
    run_dir: Path | None = None,
    llm: LLM | None = None,
    shared: SharedParts,
) -> LocalShards | RayShards | None:
    """The shards ``config.executor`` asks for; None for one local shard (one process)."""
    spec = config.executor
    if spec.kind == "local" and spec.shards == 1:
        return None
    if spec.kind == "local":
        return LocalShards(
            config, seed, spec.shards, build, run_dir=run_dir, llm=llm, shared=shared
        )
    return RayShards(config, seed, spec.shards, build, spec.address or "auto", shared=shared)


def shard_world(
    config: RunConfig,
    seed: int,
    role: ShardRole,
    build: BuildParts,
    *,
    run_dir: Path | None,
    llm: LLM | None = None,
    shared: SharedParts,
) -> World:
    """Shard ``role.index``'s world, its memories under ``run_dir`` (if given), built on
    the driver's ``shared`` parts."""
    memory = config.memory
    if memory.host is not None:  # one collection per shard on the server
        name = memory.collection or f"recworld-{config.name}"
        memory = memory.model_copy(update={"collection": f"{name}-shard-{role.index}"})
    config = config.model_copy(update={"memory": memory})
    parts = build(config, RunSeeds(seed), run_dir=run_dir, llm=llm, shared=shared)
    try:
        return World(parts, config.settings, seed=seed, name=config.name, role=role)
    except BaseException:
        parts.close()
        raise


class LocalShards:
    """Every shard in this process, one after another: the same logs as one process and
    as Ray shards, for checking a sharded configuration without a cluster."""

    def __init__(
        self,
        config: RunConfig,
        seed: int,
        count: int,
        build: BuildParts,
        *,
        run_dir: Path | None = None,
        llm: LLM | None = None,
        shared: SharedParts,
    ) -> None:
        self.count = count
        self._temporary = None if run_dir is not None else Path(tempfile.mkdtemp("-shards"))
        base = (run_dir / "shards") if run_dir is not None else self._temporary
        assert base is not None
        self.worlds: list[World] = []
        try:
            for k in range(count):
                folder = base / f"shard-{k}"
                folder.mkdir(parents=True, exist_ok=True)
                role = ShardRole(k, count)
                world = shard_world(
                    config, seed, role, build, run_dir=folder, llm=llm, shared=shared
                )
                self.worlds.append(world)
        except BaseException:
            self.close()
            raise

    def visit_all(
        self,
        step: int,
        active: Sequence[Sequence[str]],
        slates: Sequence[Slates],
        forwarded: Sequence[Forwarded],
    ) -> list[Visit]:
        return [
            world.visit(step, users, pages, given)
            for world, users, pages, given in zip(
                self.worlds, active, slates, forwarded, strict=True
            )
        ]

    def close(self) -> None:
        try:
            for world in self.worlds:
                world.close()
        finally:
            if self._temporary is not None:
                shutil.rmtree(self._temporary, ignore_errors=True)


class ShardActor:
    """A Ray actor's body: one shard's world, in a temporary folder on its node."""

    def __init__(
        self,
        config: dict[str, Any],
        seed: int,
        index: int,
        count: int,
        build: BuildParts,
        shared: SharedParts,
    ) -> None:
        self._folder = Path(tempfile.mkdtemp(f"-shard-{index}"))
        role = ShardRole(index, count)
        self.world = shard_world(
            RunConfig.model_validate(config),
            seed,
            role,
            build,
            run_dir=self._folder,
            shared=shared,
        )

    def visit(self, step: int, users: Sequence[str], slates: Slates, forwarded: Forwarded) -> Visit:
        return self.world.visit(step, users, slates, forwarded)

    def close(self) -> None:
        try:
            self.world.close()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


class RayShards:
    """One Ray actor per shard, one CPU each, spread over the cluster's nodes; each step
    sends every shard its part at once and waits for all."""

    def __init__(
        self,
        config: RunConfig,
        seed: int,
        count: int,
        build: BuildParts,
        address: str,
        *,
        shared: SharedParts,
    ) -> None:
        ray = on_ray.connect(address)
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 0))
        if count > cpus:
            raise RecworldError(
                f"executor.shards: {count} shards need a CPU each; the cluster at {address} "
                f"has {cpus}"
            )
        gpus = config.executor.shard_gpus(config.llm.backend)
        if count * gpus > resources.get("GPU", 0):
            raise RecworldError(
                f"executor.gpus_per_shard: {count} shards × {gpus:g} GPU need "
                f"{count * gpus:g} GPUs; the cluster at {address} has "
                f"{resources.get('GPU', 0):g} (serve the model once with `vllm serve` and "
                "use the openai backend, or set executor.gpus_per_shard)"
            )
        self._ray = ray
        self.count = count
        actor = ray.remote(num_cpus=1, num_gpus=gpus, scheduling_strategy="SPREAD")(ShardActor)
        payload = config.model_dump(mode="json")
        # One copy in the object store for every shard (Ray resolves the reference).
        common = ray.put(shared)
        self.actors = [actor.remote(payload, seed, k, count, build, common) for k in range(count)]
        self._nodes: list[str] | None = None

    @property
    def nodes(self) -> list[str]:
        """The node each shard runs on, in shard order (waits for the shards to be built)."""
        if self._nodes is None:
            self._nodes = self._ray.get([a.__ray_call__.remote(_node_id) for a in self.actors])
        return self._nodes

    def visit_all(
        self,
        step: int,
        active: Sequence[Sequence[str]],
        slates: Sequence[Slates],
        forwarded: Sequence[Forwarded],
    ) -> list[Visit]:
        refs = [
            a.visit.remote(step, list(users), pages, given)
            for a, users, pages, given in zip(self.actors, active, slates, forwarded, strict=True)
        ]
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as exc:
            raise RecworldError(f"a shard failed in step {step}: {_cause(exc)}") from None

    def close(self) -> None:
        try:
            self._ray.get([a.close.remote() for a in self.actors])
        except self._ray.exceptions.RayError:
            pass  # a shard that failed has nothing left to close; its error was raised
        finally:
            for a in self.actors:
                self._ray.kill(a)


def _cause(exc: BaseException) -> str:
    """The last line of a remote traceback: the error itself, without Ray's framing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _node_id(actor: ShardActor) -> str:
    return on_ray.ray_module().get_runtime_context().get_node_id()
