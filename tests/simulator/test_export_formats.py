"""``recworld export``: single-file logs and RecBole atomic files that our loader reads back."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scenarios.datasets import load_dataset, load_recbole
from scenarios.loader import load_scenario
from simulator.cli import app
from simulator.compose import open_world
from simulator.export import FORMATS, export_recbole
from simulator.rundir import FinishedRun
from simulator.runlog import read_events, read_interactions

runner = CliRunner()


def make_run(out, scenario="quickstart", **overrides):
    base = {
        "steps": 3,
        "population.size": 15,
        "memory.backend": "in-memory",
        "memory.embedder": "hashing",
        "llm.backend": "scripted",
        "llm.decisions": "json",
    }
    with open_world(load_scenario(scenario, **{**base, **overrides}), run_dir=out) as world:
        world.run()
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("export") / "run")


@pytest.fixture(scope="module")
def dataset(run_dir):
    spec = FinishedRun(run_dir).config.dataset
    return load_dataset(spec.kind, spec.path, **spec.options)


def export(*args):
    result = runner.invoke(app, ["export", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def read_back(path, fmt):
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    text = {"user_id": str, "item_id": str, "reason": str, "feeling": str, "text": str}
    return pd.read_csv(path, dtype=text, keep_default_na=False, na_values={"rating": [""]})


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_table_formats_hold_every_row_of_every_log(run_dir, fmt):
    export(run_dir, "--format", fmt)
    out = run_dir / "export" / fmt
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}.{fmt}" for name in ("interactions", "events", "users", "metrics")
    )
    logged = read_interactions(run_dir)
    exported = read_back(out / f"interactions.{fmt}", fmt)
    assert list(exported.columns) == list(logged.columns)
    assert len(exported) == len(logged) > 0
    for column in ("step", "user_id", "item_id", "action", "reason", "feeling"):
        assert exported[column].astype(str).tolist() == logged[column].astype(str).tolist()
    np.testing.assert_allclose(exported["rating"].astype(float), logged["rating"].astype(float))
    assert len(read_back(out / f"events.{fmt}", fmt)) == len(read_events(run_dir))


def test_recbole_round_trips_through_our_loader(run_dir, dataset):
    result = export(run_dir, "--format", "recbole")
    out = run_dir / "export" / "recbole" / "quickstart"
    assert {p.name for p in out.iterdir()} == {f"quickstart.{s}" for s in ("inter", "user", "item")}
    assert "dataset: quickstart" in result.output  # how to point RecBole at it

    back = load_recbole(out, keep_all_items=True)
    log = read_interactions(run_dir)
    watched = log[(log["action"] == "watch") & log["rating"].notna()].reset_index(drop=True)
    inter = back.interactions
    assert len(inter) == len(watched) > 0
    assert inter["user_id"].tolist() == watched["user_id"].tolist()
    assert inter["item_id"].tolist() == watched["item_id"].tolist()
    np.testing.assert_array_equal(inter["rating"], watched["rating"].astype(float))
    # The integer part is the world's stamp: the dataset's clock plus the step.
    clock = int(dataset.interactions["timestamp"].max())
    np.testing.assert_array_equal(inter["timestamp"], clock + watched["step"])
    assert set(back.users["user_id"]) == set(log["user_id"])
    assert set(back.items["item_id"]) == set(log["item_id"])
    titles = dataset.items.set_index("item_id")["title"]
    assert back.items.set_index("item_id")["title"].equals(titles[back.items["item_id"]])
    genres = dataset.items.set_index("item_id")["genres"]
    assert back.items["genres"].tolist() == genres[back.items["item_id"]].tolist()


def test_recbole_timestamps_order_each_users_watches(run_dir):
    export(run_dir, "--format", "recbole")
    inter = pd.read_csv(
        run_dir / "export" / "recbole" / "quickstart" / "quickstart.inter", sep="\t", dtype=str
    )
    stamps = inter.assign(t=inter["timestamp:float"].astype(float))
    assert stamps["t"].is_unique
    for _, rows in stamps.groupby("user_id:token"):
        assert rows["t"].is_monotonic_increasing  # in log order: steps, pages, positions


def test_recbole_headers_are_typed(run_dir):
    export(run_dir, "--format", "recbole")
    out = run_dir / "export" / "recbole" / "quickstart"
    first = {
        s: (out / f"quickstart.{s}").read_text().splitlines()[0].split("\t")
        for s in ("inter", "user", "item")
    }
    assert first["inter"] == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    assert {"item_id:token", "title:token_seq", "genre:token_seq"} <= set(first["item"])
    assert first["user"][0] == "user_id:token" and "age:float" in first["user"]


def test_recbole_sanitises_tabs_newlines_and_quotes(run_dir, dataset, tmp_path):
    run = FinishedRun(run_dir)
    shown = read_interactions(run_dir)["item_id"].iloc[0]
    items = dataset.items.copy()
    at = items.index[items["item_id"] == shown][0]
    items.loc[at, "title"] = 'The\tTab\nand "Quote"'
    items.loc[at, "description"] = "line one\r\nline two"
    items.at[at, "genres"] = ("Science Fiction", "Rock; Pop")
    export_recbole(run, replace(dataset, items=items), tmp_path, name="evil")
    for suffix in ("inter", "user", "item"):
        lines = (tmp_path / f"evil.{suffix}").read_text().split("\n")[:-1]
        fields = {len(line.split("\t")) for line in lines}
        assert len(fields) == 1, f"evil.{suffix}: a row has a different field count"
    back = load_recbole(tmp_path, keep_all_items=True).items.set_index("item_id")
    assert back.loc[shown, "title"] == "The Tab and 'Quote'"
    assert back.loc[shown, "description"] == "line one  line two"
    assert back.loc[shown, "genres"] == ("Science_Fiction", "Rock_Pop")


def test_export_to_a_chosen_folder(run_dir, tmp_path):
    export(run_dir, "--format", "csv", "--out", tmp_path / "here")
    assert (tmp_path / "here" / "interactions.csv").is_file()


@pytest.mark.parametrize(
    "args, says",
    [
        (["{missing}", "--format", "csv"], ["{missing}", "run directory"]),
        (["{empty}", "--format", "csv"], ["{empty}", "config.yaml", "run directory"]),
        (["{run}", "--format", "xml"], ["'xml'", *FORMATS]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, args, says):
    paths = {"missing": tmp_path / "nope", "empty": tmp_path, "run": run_dir}
    result = runner.invoke(app, ["export", *(a.format(**paths) for a in args)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for text in says:
        assert text.format(**paths) in lines[0]


@pytest.mark.data
def test_movielens_export_continues_the_datasets_clock(tmp_path, shared_data):
    run = make_run(
        tmp_path / "ml",
        "movielens-100k",
        data_dir=str(shared_data),
        policy="utility",
        steps=2,
        **{"population.size": 20},
    )
    export(run, "--format", "recbole", "--data-dir", shared_data)
    back = load_recbole(run / "export" / "recbole" / "movielens-100k")
    log = read_interactions(run)
    watched = log[log["action"] == "watch"]
    assert len(back.interactions) == len(watched) > 0
    assert set(back.users["user_id"]) == set(log["user_id"])
    assert back.users.columns.tolist()[:4] == ["user_id", "age", "gender", "occupation"]
    assert (back.interactions["timestamp"] > 893286638).all()  # ml-100k's last timestamp
