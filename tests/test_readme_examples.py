"""The README's examples work: every `recworld` command in it parses against the real
command line, and every Python example runs, in order, in a fresh folder.

`docs/readme_examples.py` runs all of them literally (the slow ones take an hour here);
these are the checks CI can afford.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import click
import pytest
import typer

from simulator.cli import app

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "docs/readme_examples.py")
readme = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = readme  # its dataclass looks its module up
_spec.loader.exec_module(readme)

EXAMPLES = readme.examples((ROOT / "README.md").read_text())
COMMANDS = [e for e in EXAMPLES if e.kind == "bash" and e.code.startswith("recworld ")]


def test_the_examples_are_read_as_a_reader_would_type_them():
    codes = [e.code for e in EXAMPLES]
    assert "make demo" in codes
    # A command continued over lines is one command; its comment is not part of it.
    evaluate = next(c for c in codes if "random,most-popular,item-knn,als" in c)
    assert "--split leave-last-out --k 10 --out results/ml100k.csv" in evaluate
    assert all("#" not in c for c in codes if c.startswith("recworld scenarios"))
    assert sum(e.kind == "python" for e in EXAMPLES) >= 5
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("recworld run quickstart   # a shipped name", "recworld run quickstart   "),
        (
            'recworld memory show r --query "a # b"  # note',
            'recworld memory show r --query "a # b"  ',
        ),
        ("recworld run x#y", "recworld run x#y"),
        ("# all comment", ""),
    ],
)
def test_comments_are_dropped_outside_quotes(line, kept):
    assert readme._strip_comment(line) == kept


@pytest.mark.parametrize("example", COMMANDS, ids=lambda e: f"line{e.line}")
def test_every_recworld_command_parses(example):
    """The command and each option exist and every value converts; nothing runs."""
    command: click.Command = typer.main.get_command(app)
    args = shlex.split(example.code)[1:]
    name = "recworld"
    while isinstance(command, click.Group):  # `recworld data info ...`: walk to the leaf
        assert args, f"README.md:{example.line}: {name} needs a subcommand"
        name, args = args[0], args[1:]
        command = command.get_command(click.Context(command), name)
        assert command is not None, f"README.md:{example.line}: no command {name!r}"
    try:
        command.make_context(name, list(args))
    except click.UsageError as exc:
        pytest.fail(f"README.md:{example.line}: {exc.format_message()}")


def test_the_python_examples_run_in_a_fresh_folder(tmp_path):
    """The python blocks in order, with the commands that make what they read."""
    needed = [e for e in EXAMPLES if e.kind == "python" or "--out runs/cs" in e.code]
    assert any(e.kind == "bash" for e in needed), "the cold-start example's run is in the README"
    env = readme.venv_environment()
    session = readme.PythonSession(cwd=tmp_path)
    try:
        for example in needed:
            if example.kind == "bash":
                ok, detail = readme.run_bash(example, env, timeout=300, cwd=tmp_path)
            else:
                ok, detail = session.run(example)
            assert ok, f"README.md:{example.line}: {detail}"
    finally:
        session.close()
    assert (tmp_path / "runs" / "fb").is_dir() and (tmp_path / "runs" / "cs").is_dir()


def test_the_python_session_survives_prints_errors_and_exits(tmp_path):
    session = readme.PythonSession(cwd=tmp_path)
    blocks = [
        "x = 2\nprint('{not json')",
        "raise SystemExit(3)",
        "import os; os.write(1, b'straight to the terminal')",
        "1 / 0",
        "assert x == 2",
    ]
    try:
        results = [session.run(readme.Example(n, "python", code)) for n, code in enumerate(blocks)]
    finally:
        session.close()
    assert [ok for ok, _ in results] == [True, False, True, False, True]
    assert results[1][1].startswith("SystemExit") and "ZeroDivisionError" in results[3][1]
