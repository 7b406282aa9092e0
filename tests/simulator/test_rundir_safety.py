"""A run directory is never left half-made: failed builds leave nothing, killed writes
leave nothing a reader sees."""

from __future__ import annotations

import contextlib
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.runlog import RunLog
from simulator.types import Event

runner = CliRunner()

FAILS_TO_BUILD = "name: broken\npolicy: utility\nsteps: 1\nutility: {calibration: missing.json}\n"


def test_a_run_that_fails_to_build_leaves_no_folder_and_can_be_retried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(FAILS_TO_BUILD)
    out = tmp_path / "out"
    first = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    again = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    for result in (first, again):
        assert result.exit_code == 2, result.output
        assert "missing.json" in result.output and "already holds a run" not in result.output
    assert not out.exists()
    # Without --out, no empty timestamped folder is left under runs/ either.
    runner.invoke(app, ["run", str(scenario)])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_failed_build_in_an_existing_folder_keeps_the_users_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(FAILS_TO_BUILD)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_write_killed_before_its_rename_is_invisible_to_readers(tmp_path, monkeypatch):
    log = RunLog(tmp_path / "run")
    log.append_events(1, [Event(1, "exit", "u1", "", None, "")])

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        log.append_events(2, [Event(2, "exit", "u2", "", None, "")])
    monkeypatch.undo()
    folder = tmp_path / "run" / "events.parquet"
    leftovers = [p.name for p in folder.iterdir() if p.name != "step-000001.parquet"]
    assert leftovers and all(name.startswith(".") for name in leftovers)
    (folder / ".step-000003.parquet.tmp").write_bytes(b"")  # a 0-byte file from a kill -9
    frame = pd.read_parquet(folder)  # the README's recipe
    assert frame["user_id"].tolist() == ["u1"]


@pytest.mark.parametrize("content", [None, "root:x:0:0:root:/root:/bin/bash\n", '{"a": 1}'])
def test_a_calibration_that_is_not_one_is_one_line_and_never_echoed(tmp_path, content):
    calibration = tmp_path / "cal.json"
    if content is not None:
        calibration.write_text(content)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"name: s\npolicy: utility\nsteps: 1\nutility: {{calibration: {calibration}}}\n"
    )
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "utility.calibration" in lines[0] and "cal.json" in lines[0]
    assert "root:x" not in result.output


@pytest.mark.parametrize(
    ("args", "scenario", "says"),
    [
        (["--seed", "-5"], None, "seed"),
        (["--out", "/proc/recworld-nope"], None, "cannot create the run folder"),
        (
            [],
            "name: big\npolicy: utility\n"
            "dataset: {kind: synthetic, options: {n_users: 100000000}}\n",
            "limit of 1,000,000",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, args, scenario, says):
    monkeypatch.chdir(tmp_path)
    target = "quickstart"
    if scenario is not None:
        (tmp_path / "s.yaml").write_text(scenario)
        target = str(tmp_path / "s.yaml")
    result = runner.invoke(app, ["run", target, "--steps", "1", *args])
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and says in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_timestamp_past_64_bits_is_named(tmp_path, tiny_ml100k):
    u_data = "1\t1\t3\t5\n2\t2\t4\t99999999999999999999999\n"
    folder = tiny_ml100k(tmp_path / "ml", u_data)
    result = runner.invoke(app, ["data", "info", str(folder), "--kind", "movielens-100k"])
    assert result.exit_code == 2
    assert "u.data:2" in result.output and "64-bit" in result.output


def test_a_folder_in_use_by_a_run_is_refused_even_with_overwrite(tmp_path):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.errors import RecworldError

    config = load_scenario(
        "quickstart", steps=1, policy="utility", **{"memory.backend": "in-memory"}
    )
    out = tmp_path / "run"
    with open_world(config, run_dir=out, seed=0) as first:
        with pytest.raises(RecworldError, match="another run is writing to this folder"):
            open_world(config, run_dir=out, seed=0, overwrite=True)
        first.run()  # the refused run touched nothing of the first one's
    assert (out / "config.yaml").exists() and (out / "metrics.parquet").exists()
    open_world(config, run_dir=out, seed=0, overwrite=True).close()  # free once closed


def test_a_memory_store_that_dies_stops_the_run_within_the_step(tmp_path):
    """The writer is killed after step 1: step 2 stops with a ServerError (exit 3), the
    logs hold step 1 only, and the store holds exactly what it held after step 1."""
    import signal

    from scenarios.loader import load_scenario
    from simulator.compose import open_memory_store, open_world
    from simulator.errors import ServerError

    config = load_scenario(
        "quickstart", steps=3, **{"population.size": 10, "llm.backend": "scripted"}
    )
    out = tmp_path / "run"
    world = open_world(config, run_dir=out, seed=0)
    world.step()
    after_first = world.memory.store._chroma.call("count")
    os.kill(world.memory.store._chroma.process.pid, signal.SIGKILL)
    world.memory.store._chroma.process.join(timeout=10)
    with pytest.raises(ServerError, match="memory store") as stopped:
        world.step()
    assert stopped.value.exit_code == 3
    with pytest.raises(ServerError):
        world.close()  # the writes it could not make are reported, not hidden
    assert len(pd.read_parquet(out / "metrics.parquet")) == 1
    assert sorted(p.name for p in (out / "interactions.parquet").iterdir()) == [
        "step-000001.parquet"
    ]
    store = open_memory_store(config.memory, out)
    try:
        assert store._chroma.call("count") == after_first > 0
    finally:
        store.close()


def test_a_chroma_server_killed_mid_run_stops_it_and_the_store_matches_the_logs(
    tmp_path, start_chroma_server
):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.errors import ServerError

    server, port = start_chroma_server(tmp_path / "chroma")
    config = load_scenario(
        "quickstart",
        steps=3,
        **{
            "population.size": 10,
            "llm.backend": "scripted",
            "memory.host": "127.0.0.1",
            "memory.port": port,
        },
    )
    out = tmp_path / "run"
    world = open_world(config, run_dir=out, seed=0)
    try:
        world.step()
        written = world.memory.store._chroma.call("count")
        server.kill()
        server.wait(timeout=30)
        with pytest.raises(ServerError, match="memory store") as stopped:
            world.step()
        assert stopped.value.exit_code == 3
    finally:
        with contextlib.suppress(ServerError):
            world.close()
    assert len(pd.read_parquet(out / "metrics.parquet")) == 1
    server, _ = start_chroma_server(tmp_path / "chroma", port)  # back, on the same data
    try:
        import chromadb

        client = chromadb.HttpClient(host="127.0.0.1", port=port)
        (collection,) = client.list_collections()
        assert collection.count() == written > 0
    finally:
        server.kill()
        server.wait(timeout=30)
