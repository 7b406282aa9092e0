"""Errors that the CLI turns into one clear line: exit status 2 for the user's input, 3 for
a server the run depends on."""

from __future__ import annotations

from pathlib import Path


def first_line(exc: BaseException) -> str:
    """An exception's first line of text (its type's name when it has none), for the one
    line that names what a library refused."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RecworldError(Exception):
    """A problem with the user's input, with a message that says what to do instead."""


class ServerError(RecworldError):
    """A server the run depends on (the LLM endpoint, a Chroma server) is unreachable or
    failing; the run stops within the step, its logs complete up to the step before."""

    exit_code = 3


class ScenarioError(RecworldError):
    """A scenario file is missing or holds a value that is not allowed."""


class DatasetError(RecworldError):
    """A dataset file is missing or malformed.

    The message names the file, the line when there is one, what is wrong, and what to do.
    """

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")
