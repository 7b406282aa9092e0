"""``recworld dashboard`` (a finished run) and the serving behind ``run --dashboard`` (live)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.cli.app import DataDir, app, say
from simulator.cli.app import fail as _fail
from simulator.cli.export import load_run_dataset
from simulator.errors import DatasetError, RecworldError

if TYPE_CHECKING:
    from simulator.world import World

Host = Annotated[str, typer.Option(help="Where the dashboard listens (0.0.0.0: every address).")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="The dashboard's port.")]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


@app.command()
def dashboard(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    data_dir: DataDir = None,
) -> None:
    """Serve a dashboard of a finished run: replay it step by step, plots per arm, agents
    and items. Needs recworld\\[viz]; Ctrl-C stops it."""
    from simulator.dashboard import RunReplay, check_can_serve, serve
    from simulator.rundir import FinishedRun

    try:
        run = FinishedRun(run_dir)
        check_can_serve(host, port)
        dataset = None
        try:
            dataset = load_run_dataset(run, data_dir)
        except DatasetError as exc:  # titles and the full catalogue are then missing
            say("note:", f"dataset not reloaded, items show as ids: {exc}")
        store = _memory_store(run)
        try:
            serve(RunReplay(run, dataset, store), host=host, port=port, announce=_announce)
        finally:
            if store is not None:
                store.close()
    except RecworldError as exc:
        _fail(exc)


def serve_live(open_world: Callable[[bool], World], *, host: str, port: int) -> None:
    """``run --dashboard``: build the world, then step it from the page until Ctrl-C.

    ``open_world(again)`` builds it; ``again`` is true when the page's Reset builds it anew
    in the same run folder.

    Raises:
        RecworldError: The viz extra is missing, the port is taken, or the world cannot
            be built.
    """
    from simulator.dashboard import LiveRun, LiveSession, check_can_serve, serve

    check_can_serve(host, port)
    with LiveSession(open_world) as session:
        serve(LiveRun(session), host=host, port=port, announce=_announce)


def _memory_store(run):
    """The run's memory store, read-only, or ``None`` (with a note) if it kept none."""
    from simulator.compose import open_memory_store
    from simulator.memory_report import check_memory_store

    try:
        check_memory_store(run)
    except RecworldError as exc:
        say("note:", f"no memories to show: {exc}")
        return None
    return open_memory_store(run.config.memory, run.dir)


def _announce(url: str) -> None:
    say("dashboard:", f"{url} (Ctrl-C stops it)", style="bold green")
