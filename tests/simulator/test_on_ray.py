"""compare on a real two-node Ray cluster: the same run directories as in one process.

The fixture starts a head node and a second node on this machine (``ray start --head``,
then ``ray start --address``), one CPU each, and stops both afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scenarios.loader import load_scenario
from simulator.compose import on_ray, open_world
from simulator.compose.compare import compare, plan, simulate
from simulator.errors import RecworldError
from simulator.runlog import RunLog

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (recworld[ray])"
)

RAY = str(Path(sys.executable).parent / "ray")
QUIET = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray(*args: str) -> None:
    subprocess.run([RAY, *args], check=True, env=QUIET, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def cluster():
    address = f"127.0.0.1:{_free_port()}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    _ray(
        "start", "--head", "--port", address.rsplit(":", 1)[1], "--include-dashboard=false", *common
    )
    try:
        _ray("start", "--address", address, *common)
        yield address
    finally:
        import ray

        ray.shutdown()
        _ray("stop", "--force")


def scenario():
    return load_scenario(
        "quickstart",
        steps=2,
        **{
            "population.size": 12,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
        },
    )


def test_compare_on_two_nodes_writes_the_one_process_runs(cluster, tmp_path):
    config = scenario()
    recommenders = ["most-popular", "random"]
    local = compare(config, recommenders, 2, out_dir=tmp_path / "local")
    remote = compare(config, recommenders, 2, out_dir=tmp_path / "ray", ray=cluster)
    for spec in plan(recommenders, [config.seed, config.seed + 1], tmp_path / "local"):
        there = tmp_path / "ray" / spec.run_dir.relative_to(tmp_path / "local")
        assert RunLog.log_files(there) == RunLog.log_files(spec.run_dir), spec
    assert remote.runs.equals(local.runs)


def test_runs_land_on_both_nodes(cluster, tmp_path):
    import ray

    on_ray.connect(cluster)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    config = scenario()
    worlds = {
        seed: (config.with_one_recommender("random", seed), tmp_path / f"seed-{seed}")
        for seed in range(6)
    }
    nodes: dict[int, str] = {}
    sizes = on_ray.simulate_all(cluster, simulate, worlds, overwrite=False, nodes=nodes)
    assert set(sizes) == set(worlds) and len(set(sizes.values())) == 1
    assert len(set(nodes.values())) == 2, "six one-CPU tasks on two one-CPU nodes"
    assert all((folder / "metrics.parquet").exists() for _, folder in worlds.values())
    assert not any((folder / RunLog.LOCK).exists() for _, folder in worlds.values())


def test_an_unreachable_cluster_is_one_line():
    with pytest.raises(RecworldError, match=r"--ray 127\.0\.0\.1:1: cannot join the cluster"):
        on_ray.connect("127.0.0.1:1")


def sharded_run(name, tmp_path, shards, **overrides):
    config = load_scenario(name, **overrides)
    if shards:
        config = config.model_copy(update={"executor": config.executor.model_copy(update=shards)})
    with open_world(config, run_dir=tmp_path) as world:
        world.run()
        nodes = getattr(world.shards, "nodes", None)
    return RunLog.log_files(tmp_path), nodes


def test_movielens_100k_in_two_shards_on_two_nodes_writes_the_one_process_logs(
    cluster, tmp_path, shared_data
):
    # The shipped scenario (LLM policy, every LLM phase, Chroma memory with MiniLM),
    # smaller so that CI stays quick.
    settings = {"steps": 3, "data_dir": str(shared_data.resolve()), "population.size": 40}
    one, _ = sharded_run("movielens-100k", tmp_path / "one", None, **settings)
    ray_shards = {"kind": "ray", "address": cluster, "shards": 2}
    two, nodes = sharded_run("movielens-100k", tmp_path / "two", ray_shards, **settings)
    assert len(set(nodes)) == 2, "one shard on each node"
    assert two == one


def test_the_quickstart_in_two_ray_shards_writes_the_one_process_logs(cluster, tmp_path):
    settings = {
        "steps": 3,
        "chat_rate": 0.5,
        "search_rate": 0.5,
        "item_corrections": 20,
        "llm.backend": "scripted",
    }
    one, _ = sharded_run("quickstart", tmp_path / "one", None, **settings)
    ray_shards = {"kind": "ray", "address": cluster, "shards": 2}
    two, _ = sharded_run("quickstart", tmp_path / "two", ray_shards, **settings)
    assert two == one


def test_more_shards_than_the_cluster_has_cpus_is_one_line(cluster, tmp_path):
    config = load_scenario("quickstart", steps=1, **{"llm.backend": "scripted"})
    config = config.model_copy(
        update={
            "executor": config.executor.model_copy(
                update={"kind": "ray", "address": cluster, "shards": 3}
            )
        }
    )
    with pytest.raises(RecworldError, match="3 shards need a CPU each; the cluster"):
        open_world(config, run_dir=tmp_path)


def test_shards_that_need_more_gpus_than_the_cluster_has_are_one_line(cluster, tmp_path):
    """A shard that runs its own vLLM engine reserves a GPU; this cluster has none."""
    config = load_scenario("quickstart", steps=1, **{"llm.backend": "scripted"})
    executor = config.executor.model_copy(
        update={"kind": "ray", "address": cluster, "shards": 2, "gpus_per_shard": 1}
    )
    config = config.model_copy(update={"executor": executor})
    with pytest.raises(RecworldError, match=r"2 shards × 1 GPU need 2 GPUs; the cluster"):
        open_world(config, run_dir=tmp_path)


def test_fidelity_subjects_as_ray_tasks_score_as_here(cluster):
    from scenarios.datasets import generate_synthetic
    from simulator.fidelity import run_fidelity
    from simulator.fidelity.cases import CaseConfig
    from simulator.fidelity.floors import RecommenderFloor
    from simulator.fidelity.subjects import UtilitySubject

    data = generate_synthetic(n_users=60, n_items=120, history_per_user=25, seed=1)
    config = CaseConfig(users=20, positives=2, rated=3, multiples=(1, 3), min_history=8)

    def subjects():
        return [UtilitySubject(), RecommenderFloor("most-popular", seed=0)]

    here = run_fidelity(data, subjects(), config)
    there = run_fidelity(
        data,
        subjects(),
        config,
        map_subjects=lambda fn, calls: on_ray.map_tasks(cluster, fn, calls),
    )
    for table in ("discrimination", "ranking", "rating", "behaviour"):
        pd.testing.assert_frame_equal(getattr(here, table), getattr(there, table))
