"""Slow phases are reported through a hook: named, timed and counted when one is given,
silent when none is, and shown on stderr by the command line."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from scenarios.loader import load_scenario
from simulator.cli import app
from simulator.cli.progress import PhaseDisplay
from simulator.compose import open_world
from simulator.progress import ProgressEvent, advance, phase
from simulator.recommenders.sasrec import SASRecConfig, SASRecRecommender
from simulator.testing import contract_dataset

TINY_SASREC = SASRecConfig(max_len=8, hidden=16, epochs=2)


def tiny_run(**overrides):
    base = {
        "steps": 1,
        "population.size": 12,
        "pages": 1,
        "slate_size": 3,
        "memory.backend": "in-memory",
        "llm.backend": "scripted",
        "llm.decisions": "json",
    }
    return load_scenario("quickstart", **{**base, **overrides})


def test_a_phase_is_started_then_finished_with_its_time_and_failures_never_finish():
    events: list[ProgressEvent] = []
    with phase(events.append, "loading"):
        advance(events.append, "loading", 1, 2, "half")
    assert [e.state for e in events] == ["started", "advanced", "finished"]
    assert events[1].done == 1 and events[1].total == 2 and events[1].detail == "half"
    assert events[2].seconds is not None and events[2].seconds >= 0
    events.clear()
    with pytest.raises(ValueError), phase(events.append, "failing"):
        raise ValueError
    assert [e.state for e in events] == ["started"]


def test_sasrec_reports_one_event_per_epoch():
    events: list[ProgressEvent] = []
    rec = SASRecRecommender(TINY_SASREC, seed=0)
    rec.progress = events.append
    rec.fit(contract_dataset())
    epochs = [e for e in events if e.state == "advanced"]
    assert [(e.done, e.total) for e in epochs] == [(1, 2), (2, 2)]
    assert all(e.detail.startswith("loss ") for e in epochs)
    assert [e.state for e in events if e.state != "advanced"] == ["started", "finished"]
    assert len({e.phase for e in events}) == 1 and "sasrec" in events[0].phase


def test_the_library_prints_nothing_without_a_hook(capfd):
    capfd.readouterr()
    SASRecRecommender(TINY_SASREC, seed=0).fit(contract_dataset())
    with open_world(tiny_run(), seed=1) as world:
        world.step()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_open_world_names_each_phase_it_builds():
    events: list[ProgressEvent] = []
    config = tiny_run(policy="utility", **{"recommender.name": "sasrec"})
    config = config.model_copy(
        update={"recommender": config.recommender.model_copy(update={"params": {"epochs": 2}})}
    )
    with open_world(config, progress=events.append):
        pass
    started = [e.phase for e in events if e.state == "started"]
    finished = [e.phase for e in events if e.state == "finished"]
    assert sorted(started) == sorted(finished)  # every phase that started finished
    expected = ["loading dataset synthetic", "building 12 user profiles", "fitting the taste core"]
    assert all(name in started for name in expected), started
    # The world's own start, phase by phase: the catalogue's index and the recommender's fit.
    assert "indexing 400 items for search" in started and "fitting sasrec" in started
    assert sum(e.state == "advanced" for e in events) == 2  # SASRec's epochs, in the world


def test_the_display_on_a_terminal_keeps_one_line_per_finished_phase():
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True, color_system=None)
    with PhaseDisplay(console) as show:
        with phase(show, "loading dataset x"):
            advance(show, "training", 1, 3, "loss 0.5")
        with phase(show, "fitting the taste core"):
            pass
    show(ProgressEvent("late", "finished", seconds=1.0))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())  # cursor moves
    kept = [line for line in text.splitlines() if " … " in line]
    assert [line.rsplit(" … ", 1)[0] for line in kept] == [
        "loading dataset x",
        "fitting the taste core",
    ]
    assert all(line.endswith(" s") for line in kept)
    assert "late" not in buffer.getvalue()


def test_the_display_prints_nothing_where_no_terminal_is(tmp_path):
    """A pipe or file keeps the results (or an error's one line) and nothing else."""
    buffer = io.StringIO()
    with PhaseDisplay(Console(file=buffer)) as show, phase(show, "loading dataset x"):
        advance(show, "training", 1, 3)
    assert buffer.getvalue() == ""


def test_run_shows_its_phases_on_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich then draws as on a terminal
    result = CliRunner().invoke(
        app,
        [
            "run",
            "quickstart",
            "--llm",
            "scripted",
            "--steps",
            "1",
            "--users",
            "10",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    for name in (
        "loading dataset synthetic … ",
        "building 10 user profiles … ",
        "starting the LLM backend scripted … ",
        "opening the memory store (chroma, hashing) … ",
        "indexing 400 items for search … ",
        "fitting most-popular … ",
    ):
        assert name in result.stderr, result.stderr
    assert "loading dataset" not in result.stdout  # the tables stay clean on stdout
