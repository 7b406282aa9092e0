"""``kill -9`` at random moments of a run, each followed by ``recworld run --resume``.

Every resumed run must end with logs byte-identical to a run that was never stopped
(``llm_stats.json`` aside: it holds latencies). Run from the repository root::

    python benchmarks/kill_resume.py --kills 20

Prints, per kill, when it landed (seconds after the world was built and ``config.yaml``
written, and the step files on disk then) and whether the resumed logs matched; exits 1
if any did not.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.runlog import RunLog

RUN = ["run", "quickstart", "--llm", "scripted", "--steps", "10", "--users", "60"]
logs = RunLog.log_files


def recworld(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", *args], capture_output=True, text=True
    )


def _run_and_kill(out: Path, after: float | None) -> float:
    """Start the run; ``after`` seconds past its start (``config.yaml`` written, the world
    built) kill it with SIGKILL; ``None`` lets it finish. Returns the seconds it ran."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", *RUN, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not (out / "config.yaml").exists() and proc.poll() is None:
        time.sleep(0.01)
    started = time.perf_counter()
    if after is None:
        assert proc.wait() == 0
    else:
        time.sleep(after)
        proc.kill()
        proc.wait()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failed = 0
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        length = _run_and_kill(root / "full", None)
        expected = logs(root / "full")
        for n in range(args.kills):
            out = root / f"killed-{n}"
            after = rng.uniform(0.0, length)
            _run_and_kill(out, after)
            steps = len(list((out / "interactions.parquet").glob("step-*"))) if out.exists() else 0
            resumed = recworld("run", "--resume", str(out))
            if resumed.returncode != 0:  # killed before the run was built: start again
                resumed = recworld(*RUN, "--out", str(out), "--overwrite")
            same = resumed.returncode == 0 and logs(out) == expected
            failed += not same
            print(
                f"kill {n + 1:2d} at {after:5.2f} s ({steps:2d} step files): "
                f"{'identical' if same else 'DIFFERENT ' + resumed.stderr.strip()}"
            )
    print(
        f"{args.kills - failed} of {args.kills} resumed runs identical (a run takes {length:.1f} s)"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
