"""Run the README's examples, in order, as a new user would after `make demo`.

Every ```bash block's commands (continuation lines joined, comments dropped) run in a
shell in the repository with the virtual environment's `bin/` first on PATH; the ```python
blocks run in one namespace, in order, like a notebook's cells. A command that serves
until Ctrl-C (the dashboard) passes when it prints its address and is still serving.

    python docs/readme_examples.py --list           # number and kind of each example
    python docs/readme_examples.py                  # run them all (an hour or more here)
    python docs/readme_examples.py --skip-slow      # not the ones that take many minutes

Skipped, with the reason printed: `make test` (the suite itself), the by-hand install
(the same steps as `make demo`), and commands that need a GPU with vLLM. The paths the
README uses (`../shared/data`) must exist beside the checkout, as the README says.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
SERVES = re.compile(r"recworld dashboard|--dashboard\b")
SLOW = re.compile(
    r"recworld (tune|enrich)\b|--llm (smollm2|tuned)|--llm tuned:|llm_recommenders_bench|"
    r"recworld run movielens-100k --ray|make demo"
)
SKIP = {
    re.compile(r"^make test\b"): "the test suite itself",
    re.compile(
        r"^(python3\.11 -m venv|pip install)"
    ): "the by-hand install: the steps of make demo",
    re.compile(r"vllm:"): "needs a GPU with vLLM",
}


@dataclass(frozen=True)
class Example:
    """One command of a bash block, or one python block, with the README line it is on."""

    line: int
    kind: str
    code: str

    def skip_reason(self, *, skip_slow: bool) -> str | None:
        if self.kind == "bash":
            for pattern, why in SKIP.items():
                if pattern.search(self.code):
                    return why
        if skip_slow and SLOW.search(self.code):
            return "slow (--skip-slow)"
        return None


def examples(text: str) -> list[Example]:
    """Every example of a README text, in order."""
    found = []
    for block in BLOCK.finditer(text):
        kind, body = block.group(1), block.group(2)
        first = text.count("\n", 0, block.start()) + 2  # the line after the fence
        if kind == "python":
            found.append(Example(first, kind, body))
            continue
        command, start = "", first
        for offset, raw in enumerate(body.splitlines()):
            line = _strip_comment(raw).rstrip()
            if not command:
                start = first + offset
            if line.endswith("\\"):
                command += line[:-1].rstrip() + " "
                continue
            command = (command + line.strip()).strip()
            if command:
                found.append(Example(start, kind, command))
            command = ""
    return found


def _strip_comment(line: str) -> str:
    """A shell line without its trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = None
    for i, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        elif char == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def run_bash(
    example: Example, env: dict[str, str], timeout: float, cwd: Path = ROOT
) -> tuple[bool, str]:
    """Run one command in ``cwd``; a serving command passes once it prints its address."""
    if SERVES.search(example.code):
        return _serve(example, env, timeout, cwd)
    process = _start(example, env, cwd, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return False, f"still running after {timeout:.0f} s"
    tail = (stderr or stdout).strip().splitlines()[-3:]
    return process.returncode == 0, " | ".join(tail)


def _start(example: Example, env: dict[str, str], cwd: Path, *, stderr: int) -> subprocess.Popen:
    """The command in a shell of its own session, so stopping it stops its children too."""
    return subprocess.Popen(
        ["bash", "-c", example.code],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def _serve(example: Example, env: dict[str, str], timeout: float, cwd: Path) -> tuple[bool, str]:
    process = _start(example, env, cwd, stderr=subprocess.STDOUT)
    seen = []
    deadline = time.monotonic() + timeout
    try:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            if "http://" in line:
                time.sleep(2)
                alive = process.poll() is None
                return alive, line.strip() if alive else "stopped after printing its address"
        return False, " | ".join(seen[-3:]) or "printed no address"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


_SESSION = """
import json, os, sys
answers = os.fdopen(int(sys.argv[1]), "w")  # a pipe of its own: prints cannot garble it
namespace = {"__name__": "__readme__"}
for line in sys.stdin:
    code, where = json.loads(line)
    try:
        exec(compile(code, where, "exec"), namespace)
        result = [True, ""]
    except (Exception, SystemExit) as exc:
        result = [False, f"{type(exc).__name__}: {exc}"[:300]]
    answers.write(json.dumps(result) + "\\n")
    answers.flush()
"""


class PythonSession:
    """The python blocks' interpreter: the virtual environment's python, one namespace for
    all blocks in order (a block uses what an earlier one defined), started at first use,
    so it exists once `make demo` has made the environment."""

    def __init__(self, cwd: Path = ROOT) -> None:
        self.cwd = cwd
        self._process: subprocess.Popen[str] | None = None
        self._answers: TextIO | None = None

    def run(self, example: Example) -> tuple[bool, str]:
        if self._process is None:
            read, write = os.pipe()
            self._process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "python"), "-c", _SESSION, str(write)],
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
                pass_fds=(write,),
            )
            os.close(write)
            self._answers = os.fdopen(read)
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps([example.code, f"README.md:{example.line}"]) + "\n")
        self._process.stdin.flush()
        assert self._answers is not None
        answer = self._answers.readline()
        if not answer:
            return False, "the python session ended"
        ok, detail = json.loads(answer)
        return ok, detail

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.wait(timeout=60)
            self._process = None
            self._answers.close()  # type: ignore[union-attr]


def venv_environment() -> dict[str, str]:
    """This environment with the virtual environment's ``bin/`` first, as after
    ``source .venv/bin/activate``."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(ROOT / ".venv")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the examples; run nothing")
    parser.add_argument("--skip-slow", action="store_true", help="skip the slow examples")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per example")
    parser.add_argument("--from-line", type=int, default=0, help="start at this README line")
    parser.add_argument("--to-line", type=int, default=10**9, help="stop after this line")
    args = parser.parse_args(argv)
    found = [
        e
        for e in examples((ROOT / "README.md").read_text())
        if args.from_line <= e.line <= args.to_line
    ]
    env = venv_environment()
    session = PythonSession()
    failed = 0
    for n, example in enumerate(found, 1):
        first = example.code.splitlines()[0][:90]
        why = example.skip_reason(skip_slow=args.skip_slow)
        if args.list or why:
            print(
                f"{n:3} line {example.line:5} {example.kind:6} {first}"
                + (f"  [skip: {why}]" if why else "")
            )
            continue
        started = time.monotonic()
        if example.kind == "bash":
            ok, detail = run_bash(example, env, args.timeout)
        else:
            ok, detail = session.run(example)
        failed += not ok
        took = time.monotonic() - started
        print(f"{n:3} line {example.line:5} {'ok  ' if ok else 'FAIL'} {took:6.0f} s  {first}")
        if not ok:
            print(f"      {detail}")
        sys.stdout.flush()
    session.close()
    if not args.list:
        print(f"{failed} of {len(found)} examples failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
