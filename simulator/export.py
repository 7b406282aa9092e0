"""A run's logs as single files (parquet, csv, jsonl) or as RecBole atomic files.

The run directory keeps one Parquet file per step so a crash loses little; tools outside
recworld want one file per log, or RecBole's ``.inter``/``.user``/``.item`` to train a
model on what the simulated users watched.

RecBole timestamps: the world stamps a step's watches ``clock + step``, where ``clock`` is
the dataset's last timestamp (the simulation continues its clock). The ``.inter`` file
adds ``k / n`` to that, ``k`` counting the step's ``n`` exported watches in log order (each
visit's pages and positions in turn), so timestamps strictly increase along every user's
history while their integer part is still the stamp the recommenders saw.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.rundir import FinishedRun

TABLE_FORMATS = ("parquet", "csv", "jsonl")
FORMATS = (*TABLE_FORMATS, "recbole")
"""What ``recworld export --format`` accepts."""

_TABLES = ("interactions", "events", "users", "metrics")
_CONTROL = re.compile(r"[\t\r\n\x0b\x0c]")
_SEQ_BREAK = re.compile(r"[\s;|]+")


@dataclass
class ExportResult:
    """The files written, and anything left out that the user should know about."""

    format: str
    out: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_format(fmt: str) -> str:
    """The format, lower-cased; a ``RecworldError`` naming the allowed ones otherwise."""
    if fmt.lower() not in FORMATS:
        raise RecworldError(
            f"--format {fmt!r}: unknown export format; choose one of {', '.join(FORMATS)}"
        )
    return fmt.lower()


def default_out(run: FinishedRun, fmt: str) -> Path:
    """``RUN/export/FORMAT``; RecBole's files go one folder deeper, in ``NAME/``, because
    RecBole reads ``data_path/NAME/NAME.inter``."""
    out = run.dir / "export" / fmt
    return out / run.name if fmt == "recbole" else out


def export_run(
    run: FinishedRun, fmt: str, out: str | Path | None = None, *, dataset: Dataset | None = None
) -> ExportResult:
    """Export ``run`` as ``fmt`` into ``out`` (default: ``default_out``).

    ``recbole`` needs the run's ``dataset`` (for ``.user``/``.item`` and the clock).
    """
    fmt = check_format(fmt)
    out = Path(out) if out is not None else default_out(run, fmt)
    if fmt in TABLE_FORMATS:
        return export_tables(run, fmt, out)
    if dataset is None:
        raise RecworldError("--format recbole: needs the run's dataset; reload it from config.yaml")
    return export_recbole(run, dataset, out)


def export_tables(run: FinishedRun, fmt: str, out: str | Path) -> ExportResult:
    """Write interactions, events, users and metrics as one ``NAME.<fmt>`` file each."""
    fmt = check_format(fmt)
    if fmt not in TABLE_FORMATS:
        raise RecworldError(f"--format {fmt!r}: export_tables writes {', '.join(TABLE_FORMATS)}")
    result = ExportResult(fmt, Path(out))
    result.out.mkdir(parents=True, exist_ok=True)
    for name in _TABLES:
        frame = getattr(run, name)
        if name == "metrics" and frame.empty:
            result.notes.append("no metrics.parquet in the run; metrics not exported")
            continue
        path = result.out / f"{name}.{fmt}"
        _write_table(frame, path, fmt)
        result.files.append(path)
    return result


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        path.write_text(text if text.endswith("\n") or not text else text + "\n")


def export_recbole(
    run: FinishedRun, dataset: Dataset, out: str | Path, *, name: str | None = None
) -> ExportResult:
    """Write ``NAME.inter`` (rated simulated watches), ``NAME.user`` and ``NAME.item``.

    ``.user`` and ``.item`` hold the dataset's rows for the users and items the run's log
    shows (exposed, not only watched), so RecBole knows every item that was on offer.
    Text fields are RecBole ``token_seq`` fields: tabs and line breaks become spaces and
    double quotes single ones (RecBole reads atomic files with pandas' default quoting).

    Args:
        run: The run to export.
        dataset: The run's dataset, reloaded from its ``config.yaml``.
        out: The folder to write; RecBole expects it to be named like the files.
        name: File stem; defaults to the scenario's name.

    Raises:
        RecworldError: The run shows users or items the dataset lacks (it changed since).
    """
    name = name or run.name
    result = ExportResult("recbole", Path(out))
    log = run.interactions
    watches = log[log["action"] == "watch"]
    rated = watches[watches["rating"].notna()]
    if len(rated) < len(watches):
        result.notes.append(
            f"{len(watches) - len(rated)} watches without a rating left out of {name}.inter"
        )
    users = _rows_for(dataset.users, "user_id", log["user_id"].unique(), dataset, "users")
    items = _rows_for(dataset.items, "item_id", log["item_id"].unique(), dataset, "items")
    result.out.mkdir(parents=True, exist_ok=True)
    inter = pd.DataFrame(
        {
            "user_id:token": rated["user_id"].to_numpy(),
            "item_id:token": rated["item_id"].to_numpy(),
            "rating:float": rated["rating"].astype("float64").to_numpy(),
            "timestamp:float": _stamps(rated["step"].to_numpy(), run.clock(dataset)),
        }
    )
    for suffix, frame in (
        (".inter", inter),
        (".user", _typed(users, id_column="user_id")),
        (".item", _typed(_item_fields(items), id_column="item_id")),
    ):
        path = result.out / f"{name}{suffix}"
        _write_atomic(frame, path)
        result.files.append(path)
    return result


def _stamps(steps: np.ndarray, clock: int) -> np.ndarray:
    """``clock + step + k / n``: the world's stamp, ordered within the step by log order."""
    stamps = np.empty(len(steps), dtype="float64")
    for step in np.unique(steps):
        at = np.flatnonzero(steps == step)
        stamps[at] = clock + int(step) + np.arange(len(at)) / len(at)
    return stamps


def _rows_for(
    frame: pd.DataFrame, column: str, ids: Iterable[str], dataset: Dataset, what: str
) -> pd.DataFrame:
    """The dataset's rows for ``ids`` (in dataset order); every id must be there."""
    wanted = pd.Index(ids)
    unknown = wanted.difference(pd.Index(frame[column]))
    if len(unknown):
        raise RecworldError(
            f"{dataset.source or dataset.name}: {len(unknown)} {what} of the run are not in the "
            f"dataset (e.g. {unknown[0]!r}); has it changed since the run? Pass the run's data "
            "with --data-dir"
        )
    return frame[frame[column].isin(wanted)].reset_index(drop=True)


def _item_fields(items: pd.DataFrame) -> pd.DataFrame:
    """Our item columns under the names RecBole and our loader both read."""
    return items.rename(columns={"genres": "genre"})


_TEXT = ("title", "description")


def _typed(frame: pd.DataFrame, *, id_column: str) -> pd.DataFrame:
    """Each column cleaned and renamed ``name:type`` (token, token_seq, float, float_seq)."""
    typed = {}
    for column in frame.columns:
        kind, values = _field(column, frame[column], id_column)
        typed[f"{_clean(str(column)).replace(' ', '_')}:{kind}"] = values
    return pd.DataFrame(typed)


def _field(column: str, values: pd.Series, id_column: str) -> tuple[str, pd.Series]:
    if column == id_column:
        return "token", values.map(_clean)
    if values.dtype.kind in "iub":
        return "float", values.astype("int64")  # written "42", read by RecBole as 42.0
    if values.dtype.kind == "f":
        return "float", values
    if values.map(lambda v: isinstance(v, list | tuple | np.ndarray)).all():
        return _sequence(values)
    text = values.map(lambda v: "" if _missing(v) else _clean(str(v)))
    spaced = text.str.contains(" ", regex=False).any()
    return ("token_seq" if column in _TEXT or spaced else "token"), text


def _sequence(values: pd.Series) -> tuple[str, pd.Series]:
    """Tuples (genres, taste vectors): numbers as float_seq, anything else as token_seq."""
    flat = [v for seq in values for v in seq]
    if flat and all(isinstance(v, int | float | np.number) for v in flat):
        return "float_seq", values.map(lambda seq: " ".join(repr(float(v)) for v in seq))
    # A token may hold neither RecBole's separator (space) nor ours (";" or "|").
    return "token_seq", values.map(
        lambda seq: " ".join(_SEQ_BREAK.sub("_", _clean(str(v)).strip()) for v in seq)
    )


def _clean(text: str) -> str:
    """Tabs and line breaks would split a field or a row; a leading quote would open one."""
    return _CONTROL.sub(" ", text).replace('"', "'")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(
        path, sep="\t", index=False, quoting=csv.QUOTE_NONE, na_rep="", lineterminator="\n"
    )
