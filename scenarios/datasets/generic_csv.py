"""Delimited-file reading shared by every loader, and the generic CSV loader.

Every loader parses with pandas (fast, explicit dtypes) and only when pandas objects, or a
cheap consistency check fails, re-scans the text line by line, so that a malformed file
yields one ``DatasetError`` naming the file, the line and the fault instead of a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.dataset import INTERACTION_COLUMNS, Dataset
from simulator.errors import DatasetError

KINDS = ("str", "int", "float", "float?")
"""Column kinds ``read_table`` understands; ``float?`` allows an empty field (NaN)."""

_SEP_NAMES = {"\t": "tab", ",": "comma", "|": "pipe", ";": "semicolon", " ": "space"}
_INTERNAL_SEP = "\x1f"  # stands in for multi-character separators, which pandas' C parser lacks


def sep_name(sep: str) -> str:
    """Say a separator in words, for messages such as "expected 4 tab-separated fields"."""
    return _SEP_NAMES.get(sep, repr(sep))


def read_text(path: str | Path, *, encoding: str = "utf-8", hint: str = "") -> str:
    """Read a whole file, turning a missing file or a bad byte into a ``DatasetError``."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "file not found"
        raise DatasetError(path, f"{problem}{'; ' + hint if hint else ''}")
    data = path.read_bytes()
    if not encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        found = _wide_encoding(data)
        if found:
            raise DatasetError(
                path,
                f"looks {found} encoded, not {encoding}; save it as UTF-8 "
                f"(or pass encoding: {found.lower()} where the loader takes one)",
            )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(
            path, f"byte {data[exc.start]:#04x} is not valid {encoding}", line=line
        ) from None


_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def _wide_encoding(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" when the bytes carry that byte-order mark, or when a third of
    the first few KB are NUL (text in a wide encoding without a mark); else ``None``."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    if head and head.count(0) * 3 >= len(head):
        return "UTF-16"
    return None


def read_header(
    path: str | Path, *, sep: str, encoding: str = "utf-8", quoted: bool = False, hint: str = ""
) -> list[str]:
    """Return the fields of line 1, so a caller can check a header before the full parse."""
    text = read_text(path, encoding=encoding, hint=hint)
    return _header_fields(Path(path), text, sep, quoted)


def _header_fields(path: Path, text: str, sep: str, quoted: bool) -> list[str]:
    first = text.split("\n", 1)[0].removesuffix("\r")
    if not first.strip():
        raise DatasetError(path, "line 1 is empty; expected a header line", line=1)
    if quoted:
        return next(csv.reader([first], delimiter=sep))
    return first.split(sep)


def _records(text: str, sep: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line, fields)`` for each non-blank record, as pandas counts them."""
    if not quoted:
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if line:
                yield number, line.split(sep)
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start = 1
    for row in reader:
        if row:
            yield start, row
        start = reader.line_num + 1


@dataclass(frozen=True, eq=False)
class Table:
    """A parsed file that can still say which line a row came from, for error messages."""

    frame: pd.DataFrame
    path: Path
    text: str = field(repr=False)
    sep: str = "\t"
    quoted: bool = False
    header: bool = False

    def line_of(self, row: int) -> int | None:
        """The 1-based line of the ``row``-th data row (positional), found by a re-scan."""
        target = row + (1 if self.header else 0)
        for index, (line, _) in enumerate(_records(self.text, self.sep, self.quoted)):
            if index == target:
                return line
        return None

    def error(self, row: int, problem: str) -> DatasetError:
        """A ``DatasetError`` for the ``row``-th data row."""
        return DatasetError(self.path, problem, line=self.line_of(row))

    def require_unique(self, column: str, label: str | None = None) -> None:
        """Reject a repeated id, naming the line of its second occurrence."""
        dup = self.frame[column].duplicated().to_numpy()
        if dup.any():
            row = int(np.argmax(dup))
            value = self.frame[column].iloc[row]
            raise self.error(row, f"{label or column} {value!r} appears twice")

    def require_known(
        self, column: str, known: Iterable[str], label: str, where: str | Path
    ) -> None:
        """Reject a reference to an id that ``where`` does not define."""
        ok = self.frame[column].isin(pd.Index(list(known))).to_numpy()
        if not ok.all():
            row = int(np.argmin(ok))
            value = self.frame[column].iloc[row]
            raise self.error(row, f"{label} {value!r} is not in {Path(where).name}")


def read_table(
    path: str | Path,
    *,
    sep: str,
    columns: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    encoding: str = "utf-8",
    quoted: bool = False,
    describe: str | None = None,
    required: Sequence[str] = (),
    hint: str = "",
) -> Table:
    """Parse a delimited file into string/number columns or raise one clear ``DatasetError``.

    Args:
        path: The file.
        sep: Field separator; may be several characters (MovieLens 1M's ``::``).
        columns: Names for a file without a header; ``None`` reads them from line 1.
        kinds: Column name -> one of ``KINDS``; unnamed columns are ``str``.
        encoding: Text encoding of the file.
        quoted: Whether fields may be double-quoted (CSV); otherwise quotes are literal.
        describe: What the fields are, for the field-count message; defaults to the names.
        required: Columns a header must contain.
        hint: Appended to a "file not found" message, e.g. which files a folder needs.
    """
    path = Path(path)
    text = read_text(path, encoding=encoding, hint=hint)
    kinds = dict(kinds or {})
    header = columns is None
    if header:
        names = [name.strip() for name in _header_fields(path, text, sep, quoted)]
        _check_header(path, names, required)
    else:
        names = list(columns or ())
    shown_sep = sep
    if len(sep) > 1:
        text = text.replace(sep, _INTERNAL_SEP)
        sep = _INTERNAL_SEP
    table = Table(pd.DataFrame(), path, text, sep, quoted, header)
    n_fields = len(names)
    describe = describe or ", ".join(names)
    fields_problem = f"expected {n_fields} {sep_name(shown_sep)}-separated fields ({describe})"
    dtypes: dict[str, object] = {
        name: {"int": "int64", "float": "float64", "float?": "float64"}.get(kinds.get(name), str)
        for name in names
    }
    nullable = {name: [""] for name in names if kinds.get(name) == "float?"}
    try:
        with warnings.catch_warnings():
            # A row with too many fields only warns (and is cut) under index_col=False.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                header=None,
                names=names,
                skiprows=1 if header else 0,
                dtype=dtypes,
                keep_default_na=False,
                na_values=nullable or None,
                quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
                index_col=False,
                engine="c",
            )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame({name: pd.Series([], dtype=dtypes[name]) for name in names})
    except (
        ValueError,
        OverflowError,
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        csv.Error,
    ) as exc:
        _rescan(table, names, kinds, fields_problem)
        raise DatasetError(path, f"could not be parsed: {exc}") from None
    if frame.empty:
        warnings.warn(f"{path}: has no rows", stacklevel=2)
    expected = (n_fields - 1) * (len(frame) + (1 if header else 0))
    # Pandas pads a short row with empty fields; separator totals reveal one cheaply.
    if (quoted and '"' in text) or text.count(sep) != expected:
        _check_field_counts(table, n_fields, fields_problem)
    for name in names:
        if kinds.get(name) in ("int", "float"):
            missing = frame[name].isna().to_numpy()
            if missing.any():
                row = int(np.argmax(missing))
                raise table.error(row, f"{name} is missing or not a number")
    return Table(frame, path, text, sep, quoted, header)


def _check_header(path: Path, names: list[str], required: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise DatasetError(path, f"the header has an empty column name: {names}", line=1)
        if name in seen:
            raise DatasetError(path, f"the header names column {name!r} twice", line=1)
        seen.add(name)
    missing = [name for name in required if name not in seen]
    if missing:
        raise DatasetError(path, f"the header lacks column(s) {missing}; it has {names}", line=1)


def _check_field_counts(table: Table, n_fields: int, problem: str) -> None:
    records = _records(table.text, table.sep, table.quoted)
    if table.header:
        next(records, None)
    for line, fields in records:
        if len(fields) != n_fields:
            raise DatasetError(table.path, f"{problem}, found {len(fields)}", line=line)


def _rescan(table: Table, names: list[str], kinds: Mapping[str, str], problem: str) -> None:
    """Find the first line pandas could not take and raise a ``DatasetError`` for it."""
    _check_field_counts(table, len(names), problem)
    records = _records(table.text, table.sep, table.quoted)
    if table.header:
        next(records, None)
    checks = [(i, name, kinds.get(name, "str")) for i, name in enumerate(names)]
    for line, fields in records:
        for i, name, kind in checks:
            value = fields[i]
            if kind == "str" or (kind == "float?" and value == ""):
                continue
            try:
                if kind == "int" and not -(2**63) <= int(value) < 2**63:
                    raise DatasetError(
                        table.path,
                        f"{name} {value!r} does not fit a 64-bit integer",
                        line=line,
                    )
                if kind != "int" and not math.isfinite(float(value)):
                    raise ValueError(value)
            except ValueError:
                what = "an integer" if kind == "int" else "a number"
                raise DatasetError(
                    table.path, f"{name} {value!r} is not {what}", line=line
                ) from None


# --------------------------------------------------------------------------- helpers


def split_genres(values: pd.Series, sep: str | None) -> pd.Series:
    """Split joined genre strings into tuples of stripped, non-empty names (object column)."""
    out = [
        tuple(part.strip() for part in (value.split(sep) if sep else value.split()) if part.strip())
        if isinstance(value, str)
        else ()
        for value in values
    ]
    return pd.Series(out, index=values.index, dtype=object)


def genre_list(genres: Iterable[tuple[str, ...]]) -> list[str]:
    """Distinct genres, sorted, for ``Dataset.meta["genres"]``."""
    return sorted({g for tup in genres for g in tup})


def empty_interactions(extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """An interactions frame with no rows but the contract's columns and dtypes."""
    dtypes = {"user_id": str, "item_id": str, "timestamp": "int64", "rating": "float64"}
    dtypes.update(extra or {})
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})


def items_from_ids(ids: Iterable[str]) -> pd.DataFrame:
    """An item table for a source without item metadata: empty title and description."""
    ids = list(dict.fromkeys(ids))
    return pd.DataFrame(
        {
            "item_id": pd.Series(ids, dtype=str),
            "title": pd.Series([""] * len(ids), dtype=str),
            "genres": pd.Series([()] * len(ids), dtype=object),
            "description": pd.Series([""] * len(ids), dtype=str),
        }
    )


def users_from_ids(ids: Iterable[str]) -> pd.DataFrame:
    """A user table for a source without user profiles, in order of first appearance."""
    return pd.DataFrame({"user_id": pd.Series(list(dict.fromkeys(ids)), dtype=str)})


def ordinal_timestamps(user_ids: pd.Series) -> pd.Series:
    """Per-user position 0, 1, 2… for sources without a clock."""
    return user_ids.groupby(user_ids, sort=False).cumcount().astype("int64")


# --------------------------------------------------------------------------- generic CSV

OUR_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "title", "genres", "description")


def load_csv(
    interactions: str | Path,
    items: str | Path | None = None,
    users: str | Path | None = None,
    columns: dict[str, str] | None = None,
    sep: str = ",",
    genre_sep: str = "|",
    *,
    name: str | None = None,
    encoding: str = "utf-8",
) -> Dataset:
    """Load any CSV log, with optional item and user tables, through a column mapping.

    Args:
        interactions: CSV with a header; needs user and item id columns, and may have
            rating (blank = implicit) and timestamp (number or ISO 8601 date) columns.
        items: Optional CSV with item id and, optionally, title, genres and description.
        users: Optional CSV with user id; every other column is kept as a profile field.
        columns: Our name -> the file's name, e.g. ``{"item_id": "movieId"}``; names not
            given are expected as ours. Keys: ``OUR_COLUMNS``.
        sep: Field separator of all three files.
        genre_sep: Separator inside the genres field.
        name: Dataset name; defaults to the interactions file's stem.
        encoding: Text encoding of the files.

    Columns a file has beyond the mapped ones are kept under their own names (as str).
    Without a timestamp column, timestamps are each user's ordinal 0, 1, 2… in file order.
    """
    path = Path(interactions)
    mapping = {ours: ours for ours in OUR_COLUMNS}
    for ours, theirs in (columns or {}).items():
        if ours not in OUR_COLUMNS:
            raise DatasetError(
                path, f"unknown column mapping key {ours!r}; allowed: {list(OUR_COLUMNS)}"
            )
        mapping[ours] = theirs
    back = {theirs: ours for ours, theirs in mapping.items()}

    inter = read_table(
        path,
        sep=sep,
        quoted=True,
        encoding=encoding,
        required=[mapping["user_id"], mapping["item_id"]],
        kinds={mapping["rating"]: "float?"},
    )
    frame = _rename(inter.frame, back, keep=("user_id", "item_id", "rating", "timestamp"))
    has_clock = "timestamp" in frame
    if "rating" not in frame:
        frame["rating"] = np.nan
    if "timestamp" in frame:
        frame["timestamp"] = _parse_timestamps(inter, frame["timestamp"])
    else:
        frame["timestamp"] = ordinal_timestamps(frame["user_id"])
    extra = [c for c in frame.columns if c not in INTERACTION_COLUMNS]
    frame = frame[[*INTERACTION_COLUMNS, *extra]]
    inter = Table(frame, inter.path, inter.text, inter.sep, inter.quoted, inter.header)

    if items is not None:
        item_table = read_table(
            items, sep=sep, quoted=True, encoding=encoding, required=[mapping["item_id"]]
        )
        item_frame = _rename(
            item_table.frame, back, keep=("item_id", "title", "genres", "description")
        )
        item_table = Table(item_frame, item_table.path, item_table.text, item_table.sep, True, True)
        item_table.require_unique("item_id")
        item_frame["title"] = item_frame.get("title", "")
        item_frame["description"] = item_frame.get("description", "")
        if "genres" in item_frame:
            item_frame["genres"] = split_genres(item_frame["genres"], genre_sep)
        else:
            item_frame["genres"] = pd.Series([()] * len(item_frame), dtype=object)
        rest = [
            c for c in item_frame.columns if c not in ("item_id", "title", "genres", "description")
        ]
        item_frame = item_frame[["item_id", "title", "genres", "description", *rest]]
        inter.require_known("item_id", item_frame["item_id"], "item_id", item_table.path)
    else:
        item_frame = items_from_ids(frame["item_id"])

    if users is not None:
        user_table = read_table(
            users, sep=sep, quoted=True, encoding=encoding, required=[mapping["user_id"]]
        )
        user_frame = _rename(user_table.frame, back, keep=("user_id",))
        Table(
            user_frame, user_table.path, user_table.text, user_table.sep, True, True
        ).require_unique("user_id")
        inter.require_known("user_id", user_frame["user_id"], "user_id", user_table.path)
    else:
        user_frame = users_from_ids(frame["user_id"])

    return Dataset(
        name=name or path.stem,
        users=user_frame.reset_index(drop=True),
        items=item_frame.reset_index(drop=True),
        interactions=frame.reset_index(drop=True),
        social=None,
        source=str(path),
        meta={
            "kind": "csv",
            "genres": genre_list(item_frame["genres"]),
            "timestamp": "unix" if has_clock else "ordinal",
        },
    )


def _rename(frame: pd.DataFrame, back: Mapping[str, str], keep: Sequence[str]) -> pd.DataFrame:
    """Rename the file's mapped columns to ours, dropping unmapped ones that would clash."""
    renames = {theirs: ours for theirs, ours in back.items() if theirs in frame and ours in keep}
    shadowed = [c for c in frame.columns if c in renames.values() and c not in renames]
    return frame.drop(columns=shadowed).rename(columns=renames).copy()


def _parse_timestamps(table: Table, raw: pd.Series) -> pd.Series:
    """Numbers are taken as seconds; otherwise every value must be an ISO 8601 date."""
    numbers = pd.to_numeric(raw, errors="coerce")
    if not numbers.isna().any():
        seconds = numbers.astype("float64")
        wild = (~np.isfinite(seconds) | (seconds.abs() >= 2.0**63)).to_numpy()
        if wild.any():  # 1e309 parses as inf; neither fits a clock
            row = int(np.argmax(wild))
            raise table.error(
                row, f"timestamp {raw.iloc[row]!r} is out of range for seconds since 1970"
            )
        return np.floor(seconds).astype("int64")
    dates = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
    if not dates.isna().any():
        return ((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")
    bad = (numbers.isna() & dates.isna()).to_numpy()
    if not bad.any():
        bad = numbers.isna().to_numpy()
    row = int(np.argmax(bad))
    raise table.error(row, f"timestamp {raw.iloc[row]!r} is neither a number nor an ISO 8601 date")


def write_csv(dataset: Dataset, folder: str | Path, *, genre_sep: str = "|") -> Path:
    """Write ``dataset`` as a ``csv`` dataset folder that ``load_csv`` reads back:
    ``interactions.csv`` (user_id, item_id, rating, timestamp and any extra columns),
    ``items.csv`` (item_id, title, genres joined by ``genre_sep``, description, extras)
    and ``users.csv`` (user_id and every profile field). Timestamps are written as
    numbers; a blank rating is implicit feedback."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    dataset.interactions.to_csv(out / "interactions.csv", index=False, lineterminator="\n")
    items = dataset.items.copy()
    items["genres"] = [genre_sep.join(map(str, g or ())) for g in items["genres"]]
    items.to_csv(out / "items.csv", index=False, lineterminator="\n")
    dataset.users.to_csv(out / "users.csv", index=False, lineterminator="\n")
    return out
