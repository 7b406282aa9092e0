"""The utility policy at scale: one process against Ray shards on local nodes.

A synthetic catalogue and population, the utility policy (no LLM), in-memory memory, every
user visiting every step. The same world runs in one process, then with ``--shards`` on a
local Ray cluster of as many one-CPU nodes (started and stopped here). For each: build
time, time per step, the driver's own cost per step (recommend, send, gather, items, feed
back, logs: the step minus the users' side) and peak memory per process. The sharded runs'
logs are checked against the one-process run's.

    python benchmarks/scale_bench.py --users 20000 --steps 5 --shards 1 2
    python benchmarks/scale_bench.py --users 100000 --steps 10 --shards 1 2

The default ``movielens-100k`` scenario at full size, end to end:

    python benchmarks/scale_bench.py --movielens ../shared/data
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scenarios.loader import load_scenario
from simulator.compose import open_world
from simulator.config import RunConfig
from simulator.runlog import RunLog

RAY = str(Path(sys.executable).parent / "ray")


def utility_config(users: int, items: int, steps: int) -> RunConfig:
    return load_scenario(
        "quickstart",
        steps=steps,
        pages=2,
        **{
            "policy": "utility",
            "population.size": users,
            "memory.backend": "in-memory",
            "memory.embedder": "hashing",
            "llm.backend": "scripted",
            "dataset.options": {"n_users": users, "n_items": items, "history_per_user": 20},
        },
    )


def run(config: RunConfig, out: Path) -> dict[str, float]:
    started = time.perf_counter()
    world = open_world(config, run_dir=out)
    built = time.perf_counter() - started
    for user in world.users:
        user.activity = 1.0
    started = time.perf_counter()
    world.run()
    wall = time.perf_counter() - started
    shards = world.shards
    shard_rss = []
    if shards is not None and hasattr(shards, "actors"):
        import ray

        shard_rss = ray.get([a.__ray_call__.remote(_peak_rss_mb) for a in shards.actors])
    steps = world.steps
    driver = (wall - world.users_side_s) / steps
    world.close()
    return {
        "build_s": built,
        "step_s": wall / steps,
        "driver_s": driver,
        "driver_rss_mb": _peak_rss_mb(None),
        "shard_rss_mb": max(shard_rss) if shard_rss else float("nan"),
        "visits": steps * len(world.users),
    }


def _peak_rss_mb(_actor: object) -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_cluster(nodes: int) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"127.0.0.1:{port}"
    head = ["--head", "--port", str(port), "--include-dashboard=false"]
    for k in range(nodes):
        where = head if k == 0 else ["--address", address]
        subprocess.run(
            [RAY, "start", *where, "--num-cpus", "1", "--disable-usage-stats"],
            check=True,
            env=env,
            capture_output=True,
        )
    return address


def stop_cluster() -> None:
    import ray

    ray.shutdown()
    subprocess.run([RAY, "stop", "--force"], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--shards", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--movielens", type=Path, help="a folder holding ml-100k/")
    args = parser.parse_args()
    if args.movielens:
        config = load_scenario("movielens-100k", data_dir=str(args.movielens.resolve()))
        population = config.population.model_copy(update={"size": None})
        config = config.model_copy(update={"population": population})
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with open_world(config, run_dir=Path(tmp) / "run") as world:
                world.run()
                users = len(world.users)
            print(
                f"movielens-100k, {users} users x {config.steps} steps, "
                f"{config.memory.embedder} memory: {time.perf_counter() - started:.1f} s end to end"
            )
        return
    config = utility_config(args.users, args.items, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        base = run(config, Path(tmp) / "one")
        reference = RunLog.log_files(Path(tmp) / "one")
        rows = [("one process", base)]
        for shards in args.shards:
            address = start_cluster(shards)
            try:
                executor = config.executor.model_copy(
                    update={"kind": "ray", "address": address, "shards": shards}
                )
                sharded = config.model_copy(update={"executor": executor})
                result = run(sharded, Path(tmp) / f"ray-{shards}")
                same = RunLog.log_files(Path(tmp) / f"ray-{shards}") == reference
                rows.append((f"{shards} Ray node(s), {shards} shard(s), same logs {same}", result))
            finally:
                stop_cluster()
    print(f"utility policy, {args.users} users x {args.steps} steps, every user every step")
    for name, r in rows:
        print(
            f"{name}: build {r['build_s']:.1f} s, {r['step_s']:.2f} s/step "
            f"({r['visits'] / (r['step_s'] * args.steps):,.0f} visits/s), driver "
            f"{r['driver_s']:.2f} s/step, peak RSS driver {r['driver_rss_mb']:,.0f} MB, "
            f"shard {r['shard_rss_mb']:,.0f} MB"
        )
    one_node = next((r for n, r in rows if n.startswith("1 Ray")), None)
    two_nodes = next((r for n, r in rows if n.startswith("2 Ray")), None)
    if one_node and two_nodes:
        print(f"two nodes against one: {one_node['step_s'] / two_nodes['step_s']:.2f}x per step")


if __name__ == "__main__":
    main()
