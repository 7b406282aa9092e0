"""``recworld evaluate``: offline metrics of a recommender on a dataset split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from simulator.cli.app import Columns, DataDir, app, console, load_data, prepare_out
from simulator.cli.app import fail as _fail
from simulator.cli.progress import PhaseDisplay
from simulator.errors import RecworldError
from simulator.progress import phase

OUT_FORMATS = (".csv", ".json", ".parquet")

_ACCURACY = {
    "ndcg": "NDCG",
    "hit_rate": "HR",
    "precision": "P",
    "recall": "R",
    "mrr": "MRR",
    "map": "MAP",
}
_BEYOND = {
    "diversity": "diversity",
    "novelty": "novelty",
    "arp": "ARP",
    "coverage": "coverage",
    "gini": "Gini",
    "popularity_lift": "pop. lift",
}


@app.command("evaluate")
def evaluate_command(
    data: Annotated[
        str,
        typer.Option(help="Dataset folder or file (e.g. ../shared/data/ml-100k), or synthetic."),
    ],
    recommender: Annotated[
        str, typer.Option(help="Comma-separated names, e.g. most-popular,item-knn,als.")
    ],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    split: Annotated[str, typer.Option(help="leave-last-out, temporal or random.")] = (
        "leave-last-out"
    ),
    k: Annotated[int, typer.Option(help="List length scored.")] = 10,
    users: Annotated[
        int | None, typer.Option(help="Score a seeded sample of this many test users.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds recommenders, split and sample.")] = 0,
    relevant_rating: Annotated[
        float | None, typer.Option(help="Only held-out items rated at least this are relevant.")
    ] = None,
    test_share: Annotated[
        float, typer.Option(help="Held-out share of the temporal and random splits.")
    ] = 0.2,
    out: Annotated[
        Path | None,
        typer.Option(help="Summary file (.csv, .json or .parquet); per-user rows go beside it."),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(
            help='Parameters per recommender as JSON, e.g. \'{"tuned-llm": {"adapter": '
            '"tuned/ml100k"}, "sasrec": {"text_init": "minilm"}}\'.'
        ),
    ] = None,
) -> None:
    """Fit recommenders on a split of a dataset and score their top K offline."""
    from simulator.evaluation.offline import evaluate
    from simulator.evaluation.splits import SPLITS
    from simulator.recommenders.registry import check_recommender_names

    try:
        names = check_recommender_names(recommender.split(","))
    except ValueError as exc:
        _fail(f"--recommender: {exc}")
    if split not in SPLITS:
        _fail(f"--split {split!r} is not a split; choose one of {', '.join(SPLITS)}")
    if k < 1:
        _fail(f"--k {k}: the list length must be at least 1")
    if users is not None and users < 1:
        _fail(f"--users {users}: sample at least 1 user, or leave the option out")
    if out is not None and out.suffix not in OUT_FORMATS:
        _fail(f"--out {out}: unsupported suffix {out.suffix!r}; use {', '.join(OUT_FORMATS)}")
    given = _params(params, names)

    try:
        if out is not None:
            prepare_out(out, is_file=True)
        with PhaseDisplay() as phases:
            with phase(phases, f"loading dataset {data}"):
                dataset = load_data(data, kind, data_dir, columns)
            result = evaluate(
                dataset,
                {name: {"name": name, "params": given.get(name)} for name in names},
                split=split,
                k=k,
                seed=seed,
                users=users,
                relevant_rating=relevant_rating,
                test_share=test_share,
                progress=phases,
            )
    except RecworldError as exc:
        _fail(exc)

    accuracy = {metric: f"{header}@{k}" for metric, header in _ACCURACY.items()}
    console.print(_table(result.summary, accuracy, f"{dataset.name}: accuracy @{k}", ""))
    console.print(_table(result.summary, _BEYOND, f"{dataset.name}: beyond accuracy @{k}", ""))
    console.print(_caption(result.split), highlight=False)
    if out is not None:
        per_user = out.with_name(f"{out.stem}-per-user{out.suffix}")
        _write(result.summary, out)
        _write(result.per_user, per_user)
        console.print(f"summary written to {out}, per-user rows to {per_user}", soft_wrap=True)


def _params(text: str | None, names: list[str]) -> dict[str, dict]:
    """``--params`` as a dict of dicts, for recommenders named in ``--recommender``."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        _fail(f"--params: not JSON ({exc.msg} at character {exc.pos}); give an object")
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        _fail('--params: give an object of objects, e.g. {"item-knn": {"k_neighbours": 20}}')
    unknown = sorted(set(value) - set(names))
    if unknown:
        _fail(f"--params: {', '.join(unknown)} not in --recommender; add it there or drop it")
    return value


def _table(summary: pd.DataFrame, columns: dict[str, str], title: str, caption: str) -> Table:
    """Recommenders as rows; each cell the mean ± the 95% interval's half-width."""
    table = Table(title=title, caption=caption, show_edge=False, pad_edge=False)
    table.add_column("recommender", no_wrap=True)
    for header in columns.values():
        table.add_column(header, justify="right", min_width=8)
    cells = summary.set_index(["recommender", "metric"])
    for name in summary["recommender"].unique():
        table.add_row(name, *(_cell(cells.loc[(name, metric)]) for metric in columns))
    return table


def _cell(row: pd.Series) -> str:
    """The mean, and the interval's half-width on a second line so narrow terminals fit."""
    mean, half = row["mean"], row["half_width"]
    if not np.isfinite(mean):
        return "-"
    digits = 1 if abs(mean) >= 100 else 2 if abs(mean) >= 10 else 4
    if not np.isfinite(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}\n± {half:.{digits}f}"


def _caption(meta: dict) -> str:
    dropped = [
        f"{meta.get('cold_users', 0)} without training history",
        f"{meta.get('no_relevant_users', 0)} without a relevant held-out item",
    ]
    return (
        f"{meta['split']} split: {meta['scored_users']} of {meta['test_users']} test users "
        f"scored; not scored: {', '.join(dropped)}. Mean ± half-width of the 95% t interval "
        "over users. Diversity: genre Jaccard distance within a list; novelty: bits; ARP: "
        "training interactions per item; coverage, Gini (exposure) and popularity lift: "
        "over all lists."
    )


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".json":
        frame.to_json(path, orient="records", indent=2)
    else:
        frame.to_parquet(path, index=False)
