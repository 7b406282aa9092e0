import json

import pandas as pd
import pytest

from scenarios.loader import load_scenario
from simulator.compose import open_world
from simulator.llm import ScriptedLLM
from simulator.runlog import read_interactions
from simulator.types import LLMResponse


def scenario(**overrides):
    base = {
        "steps": 3,
        "population.size": 30,
        "pages": 2,
        "slate_size": 4,
        "memory.backend": "in-memory",
        "llm.backend": "scripted",
        "llm.decisions": "json",
    }
    return load_scenario("quickstart", **{**base, **overrides})


class Recorder(ScriptedLLM):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.batches = []

    def generate(self, requests):
        self.batches.append(list(requests))
        return super().generate(requests)


class Garbage:
    name, model = "garbage", "g"

    def generate(self, requests):
        return [LLMResponse(text="I refuse to answer in JSON") for _ in requests]


def test_batches_per_step_do_not_grow_with_the_population():
    # Per step: one browse batch per page round, plus at most one batch each for memory
    # promotion, reflection, interviews, searches, chats and item corrections (sensory
    # compression is off by default).
    for size in (10, 200):
        rec = Recorder()
        with open_world(scenario(**{"population.size": size}), llm=rec, seed=1) as world:
            world.run()
            m = world.metrics()
        assert m["llm_batches"].max() <= world.settings.pages + 6
        browse = [b for b in rec.batches if b[0].tag == "browse"]
        assert len(browse) <= world.settings.pages * world.steps
        assert all(len({r.tag for r in b}) == 1 for b in rec.batches)
        assert sum(len(b) for b in browse) == (m["pages_per_visit"] * m["active_users"]).sum()


def test_truncated_at_the_step_limit():
    with open_world(scenario(steps=2), seed=0) as world:
        world.run(10)
        assert world.steps == 2
        assert world.truncated and not world.terminated


def test_terminated_when_every_user_has_left():
    with open_world(scenario(steps=50, churn_after=1), llm=Garbage(), seed=0) as world:
        world.run()
        assert world.terminated and not world.truncated
        assert world.steps < 50
        assert all(u.left for u in world.users)


def test_unparseable_answers_are_counted_not_fatal(tmp_path):
    with open_world(scenario(), llm=Garbage(), seed=0, run_dir=tmp_path / "run") as world:
        world.run()
        m = world.metrics()
    assert m["watches"].sum() == 0
    # Failed pages are flagged, not logged as skips, and the reason is in the event log.
    rows = read_interactions(tmp_path / "run")
    assert set(rows["action"]) == {"failed"}
    errors = pd.read_parquet(tmp_path / "run" / "events.parquet").query("kind == 'llm_error'")
    assert len(errors) == m["failed_pages"].sum()
    assert errors["text"].str.contains("invalid").all()
    assert m["failed_pages"].sum() == m["active_users"].sum() > 0
    # Interviews, searches and chats fail too; every failure is counted, none is fatal.
    assert world.llm.stats.failures == m["llm_failures"].sum() >= m["failed_pages"].sum()
    assert world.llm.stats.repairs == world.llm.stats.failures


def test_same_seed_gives_byte_identical_logs(tmp_path):
    def run(seed, out):
        with open_world(scenario(), seed=seed, run_dir=out) as world:
            world.run()
        return {p.name: p.read_bytes() for p in sorted((out / "interactions.parquet").iterdir())}

    a, b, c = run(5, tmp_path / "a"), run(5, tmp_path / "b"), run(6, tmp_path / "c")
    assert a and a == b
    assert a != c


def test_run_directory_holds_config_logs_metrics_and_llm_stats(tmp_path):
    with open_world(scenario(steps=3), seed=0, run_dir=tmp_path) as world:
        world.run()
    rows = read_interactions(tmp_path)
    assert pd.read_parquet(tmp_path / "interactions.parquet").shape == rows.shape
    assert set(rows["step"]) <= {1, 2, 3} and len(rows) == world.metrics()["exposures"].sum()
    assert set(rows["action"]) <= {"watch", "skip"}
    assert rows.loc[rows["action"] == "watch", "rating"].between(1, 5).all()
    assert rows.loc[rows["action"] == "skip", "rating"].isna().all()
    assert (rows["recommender"] == "most-popular").all()
    assert len(pd.read_parquet(tmp_path / "metrics.parquet")) == 3
    stats = json.loads((tmp_path / "llm_stats.json").read_text())
    assert stats["backend"] == "scripted:scripted-v1"
    # Step 0 holds what starting the world cost.
    assert [row["step"] for row in stats["per_step"]] == [0, 1, 2, 3]
    assert (tmp_path / "config.yaml").read_text().startswith("name: quickstart")


def test_a_run_directory_is_not_silently_reused(tmp_path):
    from simulator.errors import RecworldError

    with open_world(scenario(steps=1), seed=0, run_dir=tmp_path) as world:
        world.run()
    with pytest.raises(RecworldError, match="--overwrite"):
        open_world(scenario(steps=1), seed=0, run_dir=tmp_path)
    open_world(scenario(steps=1), seed=0, run_dir=tmp_path, overwrite=True).close()


def test_recalled_memories_reach_the_prompts():
    rec = Recorder()
    with open_world(scenario(steps=4), llm=rec, seed=2) as world:
        world.run()
    later = [r.messages[-1].content for batch in rec.batches[2:] for r in batch]
    assert any("I watched" in text for text in later)


def test_watched_items_are_never_recommended_again(tmp_path):
    config = scenario(steps=5, **{"population.size": 15})
    with open_world(config, seed=3, run_dir=tmp_path) as world:
        world.run()
    rows = read_interactions(tmp_path)
    watched = rows[rows["action"] == "watch"]
    first = watched.groupby(["user_id", "item_id"])["step"].min().rename("first_watch")
    later = rows.join(first, on=["user_id", "item_id"], how="inner")
    assert len(watched) > 0
    assert (later["step"] <= later["first_watch"]).all()


def test_each_step_appends_one_file(tmp_path):
    with open_world(scenario(steps=3), seed=0, run_dir=tmp_path) as world:
        world.step()
        assert [p.name for p in (tmp_path / "interactions.parquet").iterdir()] == [
            "step-000001.parquet"
        ]
        world.step()
        assert len(list((tmp_path / "interactions.parquet").iterdir())) == 2


def test_context_manager_closes_the_store():
    closed = []
    with open_world(scenario(steps=1), seed=0) as world:
        world.memory.close = lambda: closed.append(True)
    assert closed == [True]


def _correct(world, item_id, note):
    """An AgentCF correction of ``item_id``, as the world applies one after a clash."""
    from agents.item import Contradiction, Correction
    from simulator.types import Interaction, Reaction

    user = next(iter(world.users))
    row = Interaction(1, user.user_id, item_id, 1, 1, "rec", Reaction.WATCH, 5.0)
    clash = Contradiction(item_id, user.user_id, user.profile, row, "it was thought dull")
    answer = LLMResponse(text="", parsed=Correction(item_memory=note, user_lesson="I see."))
    return world.items.correct(clash, answer, user.next_memory_id())


def test_a_corrected_description_reaches_page_interview_and_search_prompts():
    """One home for an item's description: after a correction, every prompt that shows the
    item shows the corrected text, and search finds the item by it."""
    recorder = Recorder(seed=0)
    config = scenario(steps=2, item_corrections=0, search_rate=0.0, chat_rate=0.0)
    with open_world(config, llm=recorder, seed=0) as world:
        for item_id in world.items:
            assert _correct(world, item_id, f"Loved by zanzibar fans ({item_id}).")
        assert _correct(world, "i7", "A quixotic odyssey for zanzibar fans.")
        world.step()
        assert world.items.search.search(["quixotic"], k=1) == [("i7",)]
    prompts = {
        tag: [
            " ".join(m.content for m in r.messages)
            for b in recorder.batches
            for r in b
            if r.tag == tag
        ]
        for tag in ("browse", "interview")
    }
    assert prompts["browse"] and all("zanzibar" in p for p in prompts["browse"])
    watched = [p for p in prompts["interview"] if "What you watched" in p]
    assert watched and all("zanzibar" in p for p in watched)
