"""Stopping a run from outside: Ctrl-C or SIGTERM gives one line and 130 or 143, and no
process outlives the run, even after ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.runlog import RunLog

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for processes")

LONG_RUN = ["run", "quickstart", "--llm", "scripted", "--steps", "400", "--users", "120"]


def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", *LONG_RUN, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a job
    )


def _wait_for_steps(out: Path, proc: subprocess.Popen, steps: int = 2) -> None:
    folder = out / "interactions.parquet"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if folder.exists() and len(list(folder.glob("step-*.parquet"))) >= steps:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    pytest.fail("the run did not reach its second step in time")


def _kill_group(proc: subprocess.Popen) -> None:
    """Whatever happened in the test, no process of it outlives the test."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _all_gone(pids: list[int], within: float = 10.0) -> bool:
    """Whether every process of ``pids`` has exited within ``within`` seconds (the
    multiprocessing resource tracker leaves a moment after its parent)."""
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_group_stops_the_run_in_one_line(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for_steps(out, proc)
        writers = _children(proc.pid)
        os.killpg(proc.pid, sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stdout + stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("stopped:"), stderr
    assert lines[0].endswith("every step finished before it is in the run folder"), stderr
    assert _all_gone(writers)


def test_the_memory_writer_dies_with_its_parent_even_after_kill_9(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for_steps(out, proc, steps=1)
        writers = _children(proc.pid)
        assert writers, "the run should have a memory writer child"
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        _kill_group(proc)
    assert _all_gone(writers)
    RunLog.lock(out).release()  # the dead run's lock went with its process


def test_a_signal_stops_a_parallel_compare_and_its_workers(tmp_path):
    out = tmp_path / "compare"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "simulator.cli", "compare", "filter-bubble",
            "--recommenders", "most-popular,random", "--seeds", "2", "--jobs", "2",
            "--steps", "400", "--users", "300", "--out", str(out),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(out.rglob("step-*.parquet")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        _kill_group(proc)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.strip().splitlines()[-1].startswith("stopped: SIGTERM")
    assert _all_gone(workers)
