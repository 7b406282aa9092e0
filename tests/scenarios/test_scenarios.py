import numpy as np
import pandas as pd
import pytest

from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.profiles import pareto_activity
from simulator.compose import open_world
from simulator.errors import ScenarioError
from simulator.runlog import read_interactions


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_shipped_scenario_validates(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.steps >= 1


def test_filter_bubble_serves_two_arms_and_logs_entropy(tmp_path):
    scenario = load_scenario("filter-bubble", steps=4)
    with open_world(scenario, seed=0, run_dir=tmp_path) as world:
        world.run()
    arms = pd.Series(world.arm_of).value_counts()
    assert set(arms.index) == {"popularity", "diverse"} and abs(arms.iloc[0] - arms.iloc[1]) <= 1
    rows = read_interactions(tmp_path)
    served = rows.groupby("user_id")["recommender"].unique()
    assert all(len(v) == 1 and v[0] == world.arm_of[u] for u, v in served.items())
    users = pd.read_parquet(tmp_path / "users.parquet")
    entropy = users.groupby("arm")["exposure_entropy"].mean()
    assert entropy["diverse"] > entropy["popularity"]


def test_two_arms_need_distinct_labels():
    with pytest.raises(ScenarioError, match="label"):
        open_world(
            load_scenario(
                "quickstart",
                arms=[{"name": "random"}, {"name": "random"}],
                **{"memory.backend": "in-memory", "llm.backend": "scripted"},
            )
        )


def test_pareto_activity_is_long_tailed_and_follows_the_trait():
    from agents.profile import Level, Traits, UserProfile

    levels = [Level.LOW, Level.MEDIUM, Level.HIGH] * 200
    profiles = [
        UserProfile(user_id=str(i), traits=Traits(activity=lv)) for i, lv in enumerate(levels)
    ]
    activity = np.array(pareto_activity(profiles, np.random.default_rng(0), alpha=1.5, mean=0.3))
    assert activity.mean() == pytest.approx(0.3, abs=0.05)
    assert np.median(activity) < activity.mean()  # a long right tail
    by_level = {lv: activity[[i for i, x in enumerate(levels) if x is lv]].mean() for lv in Level}
    assert by_level[Level.HIGH] > by_level[Level.MEDIUM] > by_level[Level.LOW]


def test_choice_decisions_refuse_pages_longer_than_nine():
    with pytest.raises(ScenarioError, match="slate_size: choice decisions"):
        load_scenario("quickstart", slate_size=10)
    load_scenario("quickstart", slate_size=10, **{"llm.decisions": "json"})


def test_an_unlabelled_custom_arm_is_named_by_its_class(tmp_path, monkeypatch):
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender")
    scenario = load_scenario(
        "quickstart",
        steps=1,
        arms=[{"class": "byo_recommender.GenreMatch"}, {"name": "most-popular"}],
        **{"memory.backend": "in-memory", "llm.backend": "scripted", "llm.decisions": "json"},
    )
    with open_world(scenario, seed=0) as world:
        assert set(world.arms) == {"genre-match", "most-popular"}


def test_a_command_line_backend_drops_the_files_model_and_options(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nllm: {backend: openai, model: 'http://x/v1#m', options: {concurrency: 4}}\n"
    )
    scenario = load_scenario(path, **{"llm.backend": "scripted"})
    assert scenario.llm.model is None and scenario.llm.options == {}
    empty = tmp_path / "e.yaml"
    empty.write_text("name: e\nllm:\n")
    assert load_scenario(empty, **{"llm.backend": "scripted"}).llm.backend == "scripted"


def test_a_step_without_visitors_keeps_the_user_log_readable(tmp_path):
    scenario = load_scenario(
        "quickstart",
        steps=3,
        **{
            "population.size": 2,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
        },
    )
    with open_world(scenario, seed=0, run_dir=tmp_path) as world:
        for user in world.users:
            user.activity = 0.0
        world.step()
        for user in world.users:
            user.activity = 1.0
        world.step()
    users = pd.read_parquet(tmp_path / "users.parquet")
    assert len(users) == 2 and set(users["step"]) == {2}


def test_cold_start_items_arrive_with_no_history(tmp_path):
    from simulator.runlog import read_events

    scenario = load_scenario("cold-start", steps=5, **{"population.size": 45})
    with open_world(scenario, seed=0, run_dir=tmp_path) as world:
        assert not set(world.parts.arrivals[4]["item_id"]) & set(world.items)
        world.run()
    events = read_events(tmp_path)
    new = set(events.loc[events["kind"] == "arrival", "item_id"])
    assert len(new) == 50 and set(events.loc[events["kind"] == "arrival", "step"]) == {4}
    assert new <= set(world.items)
    rows = read_interactions(tmp_path)
    assert not rows.loc[rows["step"] < 4, "item_id"].isin(new).any()
    shown = rows[rows["item_id"].isin(new)]
    # The collaborative arm cannot show items without history; content and LLM arms can.
    assert len(shown) > 0 and set(shown["recommender"]) <= {"content", "llm"}


def test_an_allowed_class_imports_from_the_folder_recworld_runs_in(tmp_path, monkeypatch):
    """The console script does not put the working folder on sys.path; a user's module
    beside their scenario must import all the same (README: "importable from where you
    run recworld")."""
    import sys

    from simulator.imports import import_class

    package = tmp_path / "herepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "recs.py").write_text("class Mine:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "herepkg", raising=False)
    monkeypatch.delitem(sys.modules, "herepkg.recs", raising=False)
    with pytest.raises(ScenarioError, match="RECWORLD_ALLOW_IMPORT=herepkg"):
        import_class("herepkg.recs.Mine", "recommender.class")
    assert "herepkg" not in sys.modules  # nothing imported before it is allowed
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "herepkg")
    assert import_class("herepkg.recs.Mine", "recommender.class").__name__ == "Mine"
    sys.modules.pop("herepkg.recs", None)
    sys.modules.pop("herepkg", None)
