"""The ``recworld`` Typer application and what every command shares."""

from __future__ import annotations

import typer
from rich.console import Console

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
console = Console()
err_console = Console(stderr=True)


def fail(exc: RecworldError | str) -> None:
    """Users' mistakes get one line and exit status 2, never a traceback."""
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
