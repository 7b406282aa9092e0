"""The ``recworld`` Typer application and what every command shares."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from simulator.errors import RecworldError

app = typer.Typer(
    help="Simulate recommender systems with LLM-driven user and item agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
memory_app = typer.Typer(help="Inspect a run's agent memories.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")
# Everything printed holds data (titles, genres, memories, file names), so no console
# reads markup or emoji codes in it: "[/]" in a genre stays text, "u.data:100:" no emoji.
console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def say(label: str, message: object, *, style: str = "yellow", to: Console = console) -> None:
    """One line: a styled label, then ``message`` printed exactly as it is."""
    to.print(Text.assemble((label, style), " ", str(message)), soft_wrap=True)


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a loader dropping bad rows, say) as one line, without Python's source line."""
    say("warning:", message, to=err_console)


warnings.showwarning = _warn_in_one_line


def fail(exc: RecworldError | str) -> None:
    """One line, never a traceback: exit status 2 for the user's input, 3 for a server
    the run depends on (``ServerError``)."""
    say("error:", exc, style="bold red", to=err_console)
    raise typer.Exit(getattr(exc, "exit_code", 2))


def prepare_out(path: Path, *, option: str = "--out", is_file: bool = False) -> Path:
    """Create the output folder (a file's parent) before any work, so a bad path fails fast.

    Raises:
        RecworldError: The folder cannot be created (a file is in the way, no permission).
    """
    folder = path.parent if is_file else path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecworldError(
            f"{option} {path}: cannot create {folder} ({exc.strerror or exc}); "
            "choose a writable folder"
        ) from None
    if is_file and path.is_dir():
        raise RecworldError(f"{option} {path}: is a folder; give a file name")
    return path


DataDir = Annotated[
    Path | None,
    typer.Option(
        help="Where datasets live: a relative dataset path is also looked for here (as "
        "under $RECWORLD_DATA)."
    ),
]
"""``--data-dir``, the same in every command: the dataset itself is always named by the
command's DATA argument or ``--data`` (a folder, or a name under this folder)."""


Columns = Annotated[
    str | None,
    typer.Option(
        help="A csv dataset's column names, OURS=THEIRS pairs: e.g. "
        "user_id=userId,item_id=movieId,rating=stars,timestamp=when."
    ),
]
"""``--columns``: the generic CSV loader's column mapping, as a scenario's
``dataset.options.columns`` gives it."""


def parse_columns(text: str) -> dict[str, str]:
    """``--columns`` as a mapping; a part without ``=`` is one line naming it."""
    mapping = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise RecworldError(
                f"--columns: {part!r} is not OURS=THEIRS; e.g. --columns user_id=userId"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def llm_spec(text: str, cache: Path | None = None):
    """``--llm BACKEND[:MODEL]`` (and ``--cache``) as an ``LLMSpec``; an unknown backend is
    one line naming the known ones."""
    from simulator.config import LLMSpec
    from simulator.llm.registry import BACKENDS, parse_llm_spec

    backend, model = parse_llm_spec(text)
    if backend not in BACKENDS:
        raise RecworldError(
            f"--llm: unknown LLM backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    return LLMSpec(backend=backend, model=model, cache=str(cache) if cache else None)


def load_data(
    path: str,
    kind: str | None = None,
    data_dir: Path | None = None,
    columns: str | None = None,
):
    """The dataset a command's ``--data``/``--kind``/``--data-dir``/``--columns`` name
    (kind guessed), loaded as a run loads its own.

    Returns a ``simulator.dataset.Dataset``; ``scenarios`` loads only when a command runs.
    """
    from scenarios.datasets import guess_kind
    from simulator.compose import load_config_dataset
    from simulator.config import DatasetSpec

    kind = kind or guess_kind(path, data_dir)
    options = {}
    if columns is not None:
        if kind != "csv":
            raise RecworldError(f"--columns: {path} is {kind} data; a mapping is for csv data")
        options["columns"] = parse_columns(columns)
    spec = DatasetSpec(kind=kind, path=path, options=options)
    return load_config_dataset(spec, data_dir)
