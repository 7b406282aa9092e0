"""The logged dataclasses are the one definition of the run logs' columns."""

import dataclasses

import pyarrow as pa
import pytest

from simulator.runlog import EVENT_COLUMNS, INTERACTION_COLUMNS
from simulator.types import ARROW_TYPE, Event, Interaction


@pytest.mark.parametrize(
    ("row_type", "columns"), [(Interaction, INTERACTION_COLUMNS), (Event, EVENT_COLUMNS)]
)
def test_log_columns_are_the_dataclass_fields_in_order(row_type, columns):
    fields = dataclasses.fields(row_type)
    assert list(columns) == [f.name for f in fields]
    assert list(columns.values()) == [f.metadata[ARROW_TYPE] for f in fields]
    assert all(isinstance(getattr(pa, kind)(), pa.DataType) for kind in columns.values())


def test_interaction_columns_keep_their_arrow_types():
    assert INTERACTION_COLUMNS == {
        "step": "int32",
        "user_id": "string",
        "item_id": "string",
        "page": "int16",
        "position": "int16",
        "recommender": "string",
        "action": "string",
        "rating": "float32",
        "reason": "string",
        "feeling": "string",
        "timestamp": "int64",
    }
    assert EVENT_COLUMNS == {
        "step": "int32",
        "kind": "string",
        "user_id": "string",
        "item_id": "string",
        "value": "float64",
        "text": "string",
    }


def test_every_event_kind_a_run_writes_is_documented_in_the_readme(tmp_path):
    """The README's table of event kinds names each kind a run logs, and exit texts are
    the ``ExitReason`` values it lists."""
    import re
    from pathlib import Path

    import pandas as pd
    from typer.testing import CliRunner

    from simulator.cli import app
    from simulator.types import ExitReason

    out = tmp_path / "run"
    args = ["run", "quickstart", "--llm", "scripted", "--steps", "3", "--users", "20"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("What an `events.parquet` row carries", 1)[1].split("\n\n", 2)[1]
    documented = {
        k
        for row in re.findall(r"^\| (`.+?`) \|", table, re.M)
        for k in re.findall(r"`([a-z_]+)`", row)
    }
    events = pd.read_parquet(out / "events.parquet")
    assert set(events["kind"]) <= documented and {"exit", "interview"} <= set(events["kind"])
    exits = events[events["kind"] == "exit"]
    assert set(exits["text"]) <= {str(r) for r in ExitReason}
    assert (exits["value"] >= 1).all(), "an exit's value counts the pages of the visit"


def test_a_run_writes_its_users_profiles_and_traits(tmp_path):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from simulator.cli import app

    out = tmp_path / "run"
    args = ["run", "filter-bubble", "--steps", "2", "--users", "24", "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    profiles = pd.read_parquet(out / "profiles.parquet")
    assert len(profiles) == 24 and profiles["user_id"].is_unique
    levels = {"low", "medium", "high"}
    for column in ("activity_level", "conformity", "diversity"):
        assert set(profiles[column]) <= levels
    assert profiles["activity"].between(0, 1).all()
    # Each user's arm is the recommender that served them.
    served = pd.read_parquet(out / "interactions.parquet").groupby("user_id")["recommender"]
    arms = profiles.set_index("user_id")["arm"]
    for user, recs in served:
        assert set(recs) == {arms[user]}
    assert all(isinstance(json.loads(d), dict) for d in profiles["demographics"])


def test_each_logged_exposure_carries_the_simulated_time_the_recommenders_see(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from scenarios.datasets import generate_synthetic
    from simulator.cli import app

    out = tmp_path / "run"
    args = ["run", "quickstart", "--llm", "scripted", "--steps", "3", "--users", "12"]
    assert CliRunner().invoke(app, [*args, "--out", str(out)]).exit_code == 0
    rows = pd.read_parquet(out / "interactions.parquet")
    # The quickstart's data: the synthetic generator with the scenario's options.
    data = generate_synthetic(n_users=200, n_items=400, n_genres=10, history_per_user=15)
    clock = int(data.interactions["timestamp"].max())
    assert (rows["timestamp"] == clock + rows["step"]).all()
