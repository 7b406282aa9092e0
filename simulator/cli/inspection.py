"""``recworld data info`` and ``memory show``: looking inside datasets and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from simulator.cli.app import Columns, DataDir, console, data_app, load_data, memory_app
from simulator.cli.app import fail as _fail
from simulator.dataset import rating_scale
from simulator.errors import RecworldError


@data_app.command("info")
def data_info(
    path: Annotated[str, typer.Argument(help="Dataset folder or file.")],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
) -> None:
    """Print counts, sparsity and the top genres of a dataset."""

    try:
        dataset = load_data(path, kind, data_dir, columns)
    except RecworldError as exc:
        _fail(exc)
    stats = dataset.stats()
    table = Table(title=f"{stats['name']} ({path})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("users", "items", "interactions", "social_edges"):
        table.add_row(key, f"{stats[key]:,}")
    table.add_row("sparsity", f"{stats['sparsity']:.4%}")
    rated = int(dataset.interactions["rating"].notna().sum())
    table.add_row("rated interactions", f"{rated:,}")
    if stats["mean_rating"] is not None:
        table.add_row("mean rating", f"{stats['mean_rating']:.2f}")
    try:
        scale = rating_scale(dataset)
    except RecworldError:  # shown, not fatal: the counts above still hold
        table.add_row("rating scale", "none: the ratings lie on no regular step")
    else:
        table.add_row("rating scale", scale.describe() if scale else "none (implicit feedback)")
    for genre, count in stats["top_genres"]:
        table.add_row(f"genre: {genre}", f"{count:,}")
    console.print(table)


_SHORT_HEADERS = {
    "created": "made",
    "last_access": "seen",
    "importance": "imp",
    "recency": "rec",
    "relevance": "rel",
    "retention": "ret",
    "forgotten": "gone",
}
_WIDE_ENOUGH = 120
"""Columns a terminal needs for the table with its text column; narrower ones get each
record's text on lines of its own."""
_MEMORY_LEGEND = (
    "made/seen: step written / last retrieved; imp: importance; rec: recency; "
    "rel: relevance to the query; ret: retention (forgotten below the threshold)"
)


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    if isinstance(value, float | np.floating):
        return f"{value:.2f}"
    return str(value)


@memory_app.command("show")
def memory_show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    user: Annotated[str, typer.Option(help="The owner id (a user id; item:ID for items).")],
    query: Annotated[str | None, typer.Option(help="Also score against this query.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show, best first.")] = 30,
) -> None:
    """Print one agent's memories with their scores, forgotten ones included."""
    from simulator.compose import open_memory_store
    from simulator.memory_report import check_memory_store, describe_memories
    from simulator.rundir import FinishedRun

    try:
        run = FinishedRun(run_dir)
        check_memory_store(run)
        store = open_memory_store(run.config.memory, run.dir)
        try:
            frame, now = describe_memories(run, store, user, query)
        finally:
            store.close()
    except RecworldError as exc:
        _fail(exc)
    title = f"memories of {user} at step {now}" + (f", query {query!r}" if query else "")
    forgotten = int(frame["forgotten"].sum())
    frame = frame.rename(columns=_SHORT_HEADERS)
    if console.width >= _WIDE_ENOUGH:
        table = Table(title=title, expand=True, caption=_MEMORY_LEGEND)
        for column in frame.columns:
            if column == "text":
                table.add_column(column, ratio=1, min_width=24, overflow="fold")
            else:
                table.add_column(column, no_wrap=True)
        for row in frame.head(limit).itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
    else:  # the numbers would leave the text no room: each record's text under its numbers
        console.print(title, style="bold")
        for row in frame.head(limit).to_dict("records"):
            numbers = "  ".join(
                f"{name} {_cell(value)}"
                for name, value in row.items()
                if name not in ("id", "kind", "text") and _cell(value)
            )
            console.print(Text.assemble((str(row["id"]), "bold"), f" {row['kind']}  {numbers}"))
            console.print(Padding(Text(str(row["text"])), (0, 0, 0, 4)))
        console.print(_MEMORY_LEGEND, style="dim")
    console.print(f"{len(frame)} records, {forgotten} forgotten")
