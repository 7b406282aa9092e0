"""A stopped run resumes: replayed from its logs, checked row for row, then finished,
with logs byte-identical to a run that was never stopped."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.loader import load_scenario
from simulator.cli import app
from simulator.compose import open_world, resume_world
from simulator.errors import RecworldError
from simulator.runlog import RunLog

STEPS = 6


def config(steps: int = STEPS, users: int = 12):
    return load_scenario(
        "quickstart", steps=steps, **{"population.size": users, "llm.backend": "scripted"}
    )


logs = RunLog.log_files


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("full") / "run"
    with open_world(config(), run_dir=out, seed=0) as world:
        world.run()
    return logs(out)


def stopped_after(out: Path, steps: int) -> None:
    world = open_world(config(), run_dir=out, seed=0)
    try:
        world.run(steps)
    finally:
        world.close()


def test_a_run_stopped_mid_step_resumes_to_identical_logs(tmp_path, uninterrupted):
    out = tmp_path / "run"
    stopped_after(out, 3)
    # What a kill in step 4 leaves: its interaction file written, nothing after it, and a
    # half-written temporary file of its events.
    shutil.copy(out / "interactions.parquet" / "step-000003.parquet",
                out / "interactions.parquet" / "step-000004.parquet")  # fmt: skip
    (out / "events.parquet" / ".step-000004.parquet.tmp").write_bytes(b"\0" * 10)
    with resume_world(out) as world:
        assert world.steps == 3
        world.run()
    assert logs(out) == uninterrupted


def test_resuming_a_finished_run_changes_nothing(tmp_path, uninterrupted):
    out = tmp_path / "run"
    stopped_after(out, STEPS)
    with resume_world(out) as world:
        assert not world.running
        world.run()
    assert logs(out) == uninterrupted


def test_a_replay_that_differs_from_the_logs_is_refused(tmp_path):
    out = tmp_path / "run"
    stopped_after(out, 3)
    first = out / "interactions.parquet" / "step-000001.parquet"
    second = out / "interactions.parquet" / "step-000002.parquet"
    first.write_bytes(second.read_bytes())  # a log that this run did not write
    with pytest.raises(RecworldError, match=r"step-000001\.parquet: the replayed step differs"):
        resume_world(out)
    RunLog.lock(out).release()  # the refused resume let go of the folder


def test_resume_on_the_command_line(tmp_path, uninterrupted):
    out = tmp_path / "run"
    stopped_after(out, 2)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 finished steps replayed" in result.output
    assert logs(out) == uninterrupted
    both = runner.invoke(app, ["run", "quickstart", "--resume", str(out)])
    assert both.exit_code == 2 and "drop SCENARIO" in both.output
    nothing = runner.invoke(app, ["run", "--resume", str(tmp_path / "nowhere")])
    assert nothing.exit_code == 2 and "config.yaml" in nothing.output


def _run_until_killed(out: Path, after: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "run", "quickstart", "--llm", "scripted",
         "--steps", "8", "--users", "40", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.yaml").exists():  # killed once the run has started
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(after)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.skipif(sys.platform != "linux", reason="kill -9 semantics")
def test_kill_9_at_random_moments_then_resume_gives_identical_logs(tmp_path):
    """Three moments in CI; ``benchmarks/kill_resume.py`` tries twenty."""
    full = tmp_path / "full"
    done = CliRunner().invoke(
        app, ["run", "quickstart", "--llm", "scripted", "--steps", "8", "--users", "40",
              "--out", str(full)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    moments = random.Random(4).sample([0.2, 0.6, 1.0, 1.5, 2.0, 2.5], 3)
    finished = []
    for n, after in enumerate(moments):
        out = tmp_path / f"killed-{n}"
        _run_until_killed(out, after)
        finished.append(RunLog.finished_steps(out))
        result = CliRunner().invoke(app, ["run", "--resume", str(out)])
        assert result.exit_code == 0, (after, result.output)
        assert logs(out) == logs(full), after
    assert min(finished) < 8, finished  # at least one kill landed mid-run
