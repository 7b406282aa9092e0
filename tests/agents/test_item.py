import mesa
import pytest

from agents.item import Contradiction, ItemAgent
from agents.profile import ItemProfile, UserProfile
from simulator.llm import LLMRuntime, ScriptedLLM
from simulator.runlog import read_events, read_log
from simulator.types import Interaction, Reaction


def row(user, action, rating=None, step=1):
    return Interaction(step, user, "i1", 1, 1, "rec", action, rating, "because")


@pytest.fixture
def item():
    return ItemAgent(mesa.Model(seed=0), ItemProfile(item_id="i1", title="Heat", genres=("Crime",)))


drama_fan = UserProfile(user_id="u1", favourite_genres=("Drama", "Crime"))
other_fan = UserProfile(user_id="u2", favourite_genres=("Drama",))
outsider = UserProfile(user_id="u3", favourite_genres=("Musical",))


def test_a_fan_who_skips_contradicts_the_items_memory(item):
    record, clash = item.observe(row("u1", Reaction.WATCH, 5.0), drama_fan)
    assert record.owner == "item:i1" and clash is None  # no audience yet
    assert item.audience() == ("Drama", "Crime")
    _, clash = item.observe(row("u2", Reaction.SKIP), other_fan)
    assert isinstance(clash, Contradiction) and "fan of" in clash.expected
    assert item.passed_by["Drama"] == 1


def test_an_outsider_who_loves_it_contradicts_too(item):
    item.observe(row("u1", Reaction.WATCH, 5.0), drama_fan)
    _, clash = item.observe(row("u3", Reaction.WATCH, 5.0), outsider)
    assert clash is not None and "only" in clash.expected
    stranger = UserProfile(user_id="u4", favourite_genres=("Western",))
    _, none = item.observe(row("u4", Reaction.SKIP), stranger)
    assert none is None  # an outsider passing it over is what the memory predicts


def test_correction_rewrites_both_memories_in_one_batch(item):
    item.observe(row("u1", Reaction.WATCH, 5.0), drama_fan)
    _, clash = item.observe(row("u2", Reaction.SKIP, step=2), other_fan)
    runtime = LLMRuntime(ScriptedLLM(seed=0))
    request = item.correction_request(clash)
    assert "<item>" in request.messages[-1].content and "skipped" in request.messages[-1].content
    (answer,) = runtime.generate([request])
    item_record, user_record = item.apply_correction(clash, answer, "u2:9")
    assert item.profile.note == item_record.text and item_record.owner == "item:i1"
    assert user_record.owner == "u2" and user_record.evidence == (item_record.id,)
    assert "viewers say" in item.profile.describe()


def test_a_run_logs_exits_item_memories_corrections_and_entropy(tmp_path):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world

    scenario = load_scenario(
        "quickstart",
        steps=4,
        item_corrections=50,
        search_rate=0.2,
        chat_rate=0.2,
        **{
            "population.size": 40,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
        },
    )
    with open_world(scenario, seed=4, run_dir=tmp_path) as world:
        world.run()
    events = read_events(tmp_path)
    kinds = set(events["kind"])
    assert {"exit", "item_memory", "correction", "search", "interview"} <= kinds
    assert kinds & {"chat", "post"}
    exits = events[events["kind"] == "exit"]
    assert set(exits["text"]) <= {
        "chose to leave",
        "page limit",
        "no more recommendations",
        "answer failed",
    }
    assert len(exits) == world.metrics()["active_users"].sum()
    users = read_log(tmp_path, "users.parquet")
    assert {"exposure_entropy", "watched_entropy"} <= set(users.columns)
    assert (users["exposure_entropy"] >= 0).all() and users["exposure_entropy"].max() > 0
    noted = [i for i in world.items.values() if i.profile.note]
    assert noted, "corrections should rewrite some items' self-descriptions"
