"""A sharded world writes the logs of one process, for any number of shards."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from scenarios.loader import load_scenario
from simulator.compose import open_world
from simulator.runlog import RunLog
from simulator.world import blocks


def run_logs(tmp_path, name, shards, **overrides):
    config = load_scenario(
        "quickstart",
        steps=3,
        **{
            "population.size": 30,
            "llm.backend": "scripted",
            "executor.shards": shards,
            **overrides,
        },
    )
    with open_world(config, run_dir=tmp_path / name) as world:
        world.run()
        llm = world.llm.stats.to_json()["per_step"]
    files = RunLog.log_files(tmp_path / name)
    return files, llm


def event_kinds(files):
    events = pd.concat(
        pd.read_parquet(io.BytesIO(data)) for name, data in files.items() if "events" in name
    )
    return set(events["kind"])


@pytest.mark.parametrize(
    "overrides",
    [
        # The LLM policy with every LLM phase: interviews, search, chat (to users of other
        # shards), AgentCF corrections, reflections, embedded Chroma memory.
        {
            "memory.backend": "chroma",
            "memory.embedder": "hashing",
            "chat_rate": 0.5,
            "search_rate": 0.5,
            "item_corrections": 50,
        },
        {"policy": "utility", "memory.backend": "in-memory"},
        # Items arriving mid-run join the utility model the shards share with the driver.
        {"policy": "utility", "memory.backend": "in-memory", "arrivals": {"at_step": 2}},
    ],
    ids=["llm", "utility", "utility-arrivals"],
)
def test_two_and_three_shards_write_the_one_process_logs(tmp_path, overrides):
    one, calls = run_logs(tmp_path, "one", 1, **overrides)
    if "chat_rate" in overrides:  # every phase that crosses shards took place
        assert {"correction", "search", "chat", "post", "interview"} <= event_kinds(one)
    for shards in (2, 3):
        sharded, sharded_calls = run_logs(tmp_path, f"s{shards}", shards, **overrides)
        assert sharded.keys() == one.keys()
        for name in one:
            assert sharded[name] == one[name], (shards, name)
        # The same calls and tokens each step (step 0, starting, is each shard's own);
        # batches count the busiest shard per phase.
        for mine, theirs in zip(sharded_calls[1:], calls[1:], strict=True):
            for counter in ("calls", "batches", "prompt_tokens", "completion_tokens"):
                assert mine[counter] == theirs[counter], (shards, counter)


def test_blocks_cover_the_population_in_order():
    assert [list(b) for b in blocks(7, 3)] == [[0, 1], [2, 3], [4, 5, 6]]
    assert [len(b) for b in blocks(2, 3)] == [0, 1, 1]
    assert sum(len(b) for b in blocks(1000, 7)) == 1000


def test_a_sharded_run_resumes_to_the_same_logs(tmp_path):
    from simulator.compose.run import resume_world

    overrides = {"memory.backend": "in-memory", "chat_rate": 0.5, "search_rate": 0.5}
    whole, _ = run_logs(tmp_path, "whole", 1, **overrides)
    config = load_scenario(
        "quickstart",
        steps=3,
        **{"population.size": 30, "llm.backend": "scripted", "executor.shards": 2, **overrides},
    )
    with open_world(config, run_dir=tmp_path / "stopped") as world:
        world.run(2)  # stops after step 2 of 3
    with resume_world(tmp_path / "stopped") as world:
        assert world.steps == 2
        world.run()
    assert RunLog.log_files(tmp_path / "stopped") == whole


def test_a_ray_shard_reserves_a_gpu_only_for_its_own_vllm_engine():
    from simulator.config import ExecutorSpec

    assert ExecutorSpec().shard_gpus("vllm") == 1.0
    assert ExecutorSpec().shard_gpus("openai") == 0.0  # a shared server: no GPU in the shard
    assert ExecutorSpec(gpus_per_shard=0.5).shard_gpus("vllm") == 0.5
    assert ExecutorSpec(gpus_per_shard=0).shard_gpus("vllm") == 0.0
    with pytest.raises(ValueError, match="gpus_per_shard"):
        ExecutorSpec(gpus_per_shard=-1)


def test_local_shards_take_the_drivers_data_and_fitted_model(tmp_path):
    """Nothing a run's config and seed decide is built twice: local shards hold the
    driver's own dataset, profiles, catalogue, social graph and utility model."""
    config = load_scenario(
        "quickstart",
        steps=1,
        **{
            "population.size": 30,
            "llm.backend": "scripted",
            "policy": "utility",
            "memory.backend": "in-memory",
            "executor.shards": 2,
        },
    )
    with open_world(config, run_dir=tmp_path / "run") as world:
        for shard in world.shards.worlds:
            assert shard.dataset is world.dataset and shard.social is world.social
            assert shard.parts.users is world.parts.users
            assert shard.parts.items is world.parts.items
            assert shard.policy.model is world.policy.model
            assert shard.memory is not world.memory and shard.llm is not world.llm
