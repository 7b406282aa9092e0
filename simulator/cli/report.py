"""``recworld report``: one self-contained HTML page of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.cli.app import app, console, prepare_out, say
from simulator.cli.app import fail as _fail
from simulator.cli.export import load_run_dataset
from simulator.errors import DatasetError, RecworldError


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[
        Path | None, typer.Option(help="The HTML file; default RUN/report.html.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where datasets live (to compare against the real data).")
    ] = None,
) -> None:
    """Write an HTML report of a run: summary, engagement, entropy, ratings, long tail, LLM cost."""
    from simulator.report import FinishedRun, write_report

    try:
        run = FinishedRun(run_dir)
        dataset, problem = None, None
        try:
            dataset = load_run_dataset(run, data_dir)
        except DatasetError as exc:  # the report still says everything else
            problem = str(exc)
            say("note:", f"dataset not reloaded: {problem}")
        if out is not None:
            prepare_out(out, is_file=True)
        path = write_report(run, out, dataset=dataset, dataset_problem=problem)
    except RecworldError as exc:
        _fail(exc)
    console.print(f"wrote {path}", highlight=False)
