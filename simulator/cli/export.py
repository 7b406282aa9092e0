"""``recworld export``: a run's logs as parquet, csv, jsonl or RecBole atomic files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.cli.app import app, console, prepare_out, say
from simulator.cli.app import fail as _fail
from simulator.errors import RecworldError

if TYPE_CHECKING:
    from simulator.dataset import Dataset
    from simulator.rundir import FinishedRun


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="parquet, csv, jsonl or recbole.")
    ] = "parquet",
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder; default RUN/export/FORMAT (recbole: .../recbole/NAME)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where datasets live (recbole reloads the run's).")
    ] = None,
) -> None:
    """Write a run's logs as single files, or as RecBole atomic files of its watches."""
    from simulator.export import check_format, export_run
    from simulator.rundir import FinishedRun

    try:
        fmt = check_format(fmt)
        run = FinishedRun(run_dir)
        dataset = load_run_dataset(run, data_dir) if fmt == "recbole" else None
        if out is not None:
            prepare_out(out)
        result = export_run(run, fmt, out, dataset=dataset)
    except RecworldError as exc:
        _fail(exc)
    for path in result.files:
        console.print(f"wrote {path}", highlight=False)
    for note in result.notes:
        say("note:", note)
    if fmt == "recbole" and result.out.name == run.name:
        console.print(
            f"RecBole: data_path: {result.out.parent}, dataset: {run.name}", highlight=False
        )


def load_run_dataset(run: FinishedRun, data_dir: Path | None = None) -> Dataset:
    """The run's dataset, reloaded as its ``config.yaml`` names it.

    Raises:
        DatasetError: Not found (naming every place tried and ``--data-dir``) or malformed.
    """
    from simulator.compose import load_config_dataset

    return load_config_dataset(run.config.dataset, data_dir or run.config.data_dir)
