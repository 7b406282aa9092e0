"""RecBole atomic files (``.inter``, ``.item``, ``.user``), as AgentCF and RecBole ship them.

Two interaction layouts are read: the plain one (one row per interaction) and the
sequential benchmark one AgentCF uses (``NAME.train/valid/test.inter`` with
``item_id_list``), from which each user's full ordered history is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.datasets.generic_csv import (
    Table,
    genre_list,
    items_from_ids,
    ordinal_timestamps,
    read_header,
    read_table,
    split_genres,
    users_from_ids,
)
from simulator.dataset import INTERACTION_COLUMNS, Dataset
from simulator.errors import DatasetError

RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
"""The field types a RecBole atomic-file header may declare."""

SPLITS = ("train", "valid", "test")
TITLE_FIELDS = ("title", "movie_title", "name")
GENRE_FIELDS = ("category", "categories", "genre", "genres", "class")
DESCRIPTION_FIELDS = ("description",)
_REQUIRED_FLOATS = ("rating", "timestamp")
_SEP = "\t"


def parse_recbole_header(fields: Sequence[str], path: str | Path) -> list[tuple[str, str]]:
    """Split ``name:type`` header fields, rejecting what RecBole itself would misread.

    Returns:
        ``(name, type)`` per column, in file order.

    Raises:
        DatasetError: naming ``path`` and line 1 for a field without a ``:type`` suffix, an
            unknown type, or a repeated name; the message lists the allowed types.
    """
    allowed = ", ".join(RECBOLE_TYPES)
    parsed: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(fields, start=1):
        field = raw.strip()
        name, colon, kind = field.rpartition(":")
        if not colon or not name:
            raise DatasetError(
                path,
                f"header column {number} {field!r} has no ':type' suffix; RecBole headers "
                f"read name:type with type one of {allowed}",
                line=1,
            )
        if kind not in RECBOLE_TYPES:
            raise DatasetError(
                path,
                f"header column {number} {field!r} has unknown type {kind!r}; "
                f"allowed types: {allowed}",
                line=1,
            )
        if name in seen:
            raise DatasetError(path, f"header names column {name!r} twice", line=1)
        seen.add(name)
        parsed.append((name, kind))
    return parsed


def load_recbole(
    path: str | Path,
    name: str | None = None,
    *,
    keep_all_items: bool = False,
    genre_sep: str | None = None,
) -> Dataset:
    """Load a RecBole dataset folder (or one ``.inter`` file inside it).

    Args:
        path: The folder holding the atomic files, or one ``.inter`` file.
        name: Dataset name (file stem); guessed from the folder when omitted.
        keep_all_items: Keep every row of the ``.item`` file; by default only items the
            interactions use (AgentCF's CDs.item has 64k rows for 269 used items).
        genre_sep: Separator inside the genre field; by default ";" when any value has
            one (AgentCF's "Folk; Contemporary Folk"), else "|" likewise, else whitespace
            (RecBole's own token_seq separator).

    Interactions gain ``split`` ("train"/"valid"/"test") when the data comes as split
    files, and any extra ``.inter`` columns under their names without the ``:type``.
    Sequential files give timestamps 0, 1, 2… along each user's rebuilt history and
    NaN ratings. Without a ``.user`` file, users are the distinct interaction user ids.
    """
    root = Path(path)
    if root.is_file() and root.suffix == ".inter":
        name = name or _dataset_name(root)
        root = root.parent
    if not root.is_dir():
        raise DatasetError(
            root,
            "folder not found; a RecBole folder holds NAME.inter or "
            "NAME.train.inter/NAME.valid.inter/NAME.test.inter",
        )
    name = name or _guess_name(root)

    item_path = _companion(root, name, ".item")
    item_table = _read_typed(item_path, required=("item_id",)) if item_path else None
    if item_table is not None:
        item_table.require_unique("item_id")
    user_path = _companion(root, name, ".user")
    user_table = _read_typed(user_path, required=("user_id",)) if user_path else None
    if user_table is not None:
        user_table.require_unique("user_id")
    refs = _Refs(item_table, user_table)

    split_paths = [(s, root / f"{name}.{s}.inter") for s in SPLITS]
    split_paths = [(s, p) for s, p in split_paths if p.is_file()]
    if split_paths:
        frame, has_clock, layout = _read_split_inters(split_paths, refs)
    else:
        table = _read_inter(root / f"{name}.inter")
        refs.check(table)
        frame, has_clock = _finish_inter(table.frame)
        layout = "atomic"
    users = user_table.frame if user_table is not None else users_from_ids(frame["user_id"])

    if item_table is None:
        items = items_from_ids(frame["item_id"])
    else:
        raw = item_table.frame
        if not keep_all_items:
            raw = raw[raw["item_id"].isin(pd.Index(frame["item_id"].unique()))]
        items = _item_frame(raw, genre_sep, item_table.frame)

    return Dataset(
        name=name,
        users=users.reset_index(drop=True),
        items=items.reset_index(drop=True),
        interactions=frame.reset_index(drop=True),
        social=None,
        source=str(root),
        meta={
            "kind": "recbole",
            "genres": genre_list(items["genres"]),
            "timestamp": "unix" if has_clock else "ordinal",
            "layout": layout,
            "splits": [s for s, _ in split_paths],
        },
    )


class _Refs:
    """The ids the .item and .user files define, to name the line that breaks them."""

    def __init__(self, items: Table | None, users: Table | None) -> None:
        self.items, self.users = items, users
        self.item_ids = None if items is None else set(items.frame["item_id"].tolist())
        self.user_ids = None if users is None else set(users.frame["user_id"].tolist())

    def check(self, table: Table) -> None:
        if self.items is not None:
            table.require_known("item_id", self.items.frame["item_id"], "item_id", self.items.path)
        if self.users is not None:
            table.require_known("user_id", self.users.frame["user_id"], "user_id", self.users.path)

    def check_row(self, table: Table, row: int, user: str, items: Sequence[str]) -> None:
        if self.user_ids is not None and user not in self.user_ids:
            assert self.users is not None
            raise table.error(row, f"user_id {user!r} is not in {self.users.path.name}")
        if self.item_ids is not None:
            for item in items:
                if item not in self.item_ids:
                    assert self.items is not None
                    raise table.error(row, f"item_id {item!r} is not in {self.items.path.name}")


def _guess_name(root: Path) -> str:
    if any((root / f"{root.name}{suffix}").is_file() for suffix in (".inter", ".train.inter")):
        return root.name
    names = sorted({_dataset_name(p) for p in root.glob("*.inter")})
    if len(names) == 1:
        return names[0]
    if not names:
        raise DatasetError(
            root,
            "no .inter file here; a RecBole folder holds NAME.inter or "
            "NAME.train.inter/NAME.valid.inter/NAME.test.inter",
        )
    raise DatasetError(root, f"several datasets here ({', '.join(names)}); pass name=")


def _dataset_name(inter: Path) -> str:
    """``X.inter`` and ``X.train.inter`` both name dataset ``X``."""
    stem = inter.name.removesuffix(".inter")
    for split in SPLITS:
        stem = stem.removesuffix(f".{split}")
    return stem


def _companion(root: Path, name: str, suffix: str) -> Path | None:
    """``NAME.item``, else the one whose stem prefixes NAME (AgentCF: ``CDs.item``)."""
    exact = root / f"{name}{suffix}"
    if exact.is_file():
        return exact
    found = sorted(root.glob(f"*{suffix}"))
    prefixed = [p for p in found if name.startswith(p.stem)]
    if prefixed:
        return max(prefixed, key=lambda p: len(p.stem))
    return found[0] if len(found) == 1 else None


def _read_typed(path: Path, required: Sequence[str] = ()) -> Table:
    """Read an atomic file, strip the ``:type`` suffixes and check required fields."""
    hint = "RecBole atomic files are tab-separated with a name:type header"
    header = read_header(path, sep=_SEP, hint=hint)
    fields = parse_recbole_header(header, path)
    kinds = {
        f"{name}:{kind}": ("float" if name in _REQUIRED_FLOATS else "float?")
        for name, kind in fields
        if kind == "float"
    }
    names = [name for name, _ in fields]
    missing = [r for r in required if r not in names]
    if missing:
        raise DatasetError(
            path,
            f"the header lacks field(s) {missing}; it has {[h.strip() for h in header]}",
            line=1,
        )
    table = read_table(path, sep=_SEP, kinds=kinds, hint=hint)
    frame = table.frame.set_axis(names, axis=1)
    return Table(frame, table.path, table.text, table.sep, table.quoted, table.header)


def _item_frame(raw: pd.DataFrame, genre_sep: str | None, full: pd.DataFrame) -> pd.DataFrame:
    """Map title/genre/description fields to ours; other fields stay under their names.

    The genre separator is guessed from the ``full`` file so that filtering items never
    changes how genres split.
    """
    title = next((c for c in TITLE_FIELDS if c in raw), None)
    genre = next((c for c in GENRE_FIELDS if c in raw), None)
    description = next((c for c in DESCRIPTION_FIELDS if c in raw), None)
    items = pd.DataFrame({"item_id": raw["item_id"]})
    items["title"] = raw[title] if title else ""
    if genre:
        sep = genre_sep if genre_sep is not None else _guess_genre_sep(full[genre])
        items["genres"] = split_genres(raw[genre], sep)
    else:
        items["genres"] = pd.Series([()] * len(raw), index=raw.index, dtype=object)
    items["description"] = raw[description] if description else ""
    for column in raw.columns:
        if column not in (title, genre, description, *items.columns):
            items[column] = raw[column]
    return items


def _guess_genre_sep(values: pd.Series) -> str | None:
    for sep in (";", "|"):
        if values.str.contains(sep, regex=False).any():
            return sep
    return None


def _read_inter(path: Path, extra_required: Sequence[str] = ()) -> Table:
    return _read_typed(path, required=("user_id", "item_id", *extra_required))


def _finish_inter(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Put an atomic interaction frame into the contract's columns and dtypes."""
    frame = frame.copy()
    has_clock = "timestamp" in frame
    if "rating" not in frame:
        frame["rating"] = np.nan
    if has_clock:
        frame["timestamp"] = np.floor(frame["timestamp"]).astype("int64")
    else:
        frame["timestamp"] = ordinal_timestamps(frame["user_id"])
    frame["rating"] = frame["rating"].astype("float64")
    extra = [c for c in frame.columns if c not in INTERACTION_COLUMNS]
    return frame[[*INTERACTION_COLUMNS, *extra]], has_clock


def _read_split_inters(
    split_paths: list[tuple[str, Path]], refs: _Refs
) -> tuple[pd.DataFrame, bool, str]:
    """Read NAME.{train,valid,test}.inter; returns (frame, has_clock, layout)."""
    tables = [(split, _read_inter(p)) for split, p in split_paths]
    sequential = ["item_id_list" in t.frame for _, t in tables]
    if any(sequential) and not all(sequential):
        odd = next(t.path for (_, t), s in zip(tables, sequential, strict=True) if not s)
        raise DatasetError(
            odd,
            "the other split files are sequential (item_id_list) but this "
            "one is not; all splits must share one layout",
            line=1,
        )
    if all(sequential):
        return _rebuild_sequences(tables, refs), False, "sequential"
    for _, table in tables:
        refs.check(table)
    parts = [table.frame.assign(split=split) for split, table in tables]
    frame, has_clock = _finish_inter(pd.concat(parts, ignore_index=True))
    return frame, has_clock, "split"


def _rebuild_sequences(tables: list[tuple[str, Table]], refs: _Refs) -> pd.DataFrame:
    """Turn (history, next item) rows back into one ordered history per user.

    Each row's ``item_id_list`` must be the tail of what earlier rows built for that user
    (RecBole may truncate it to MAX_ITEM_LIST_LENGTH), then its ``item_id`` is appended.
    """
    seqs: dict[str, list[str]] = {}
    splits: dict[str, list[str]] = {}
    for split, table in tables:
        frame = table.frame
        rows = zip(frame["user_id"], frame["item_id_list"], frame["item_id"], strict=True)
        for row, (user, history, target) in enumerate(rows):
            prefix = history.split()
            refs.check_row(table, row, user, (*prefix, target))
            seq = seqs.get(user)
            if seq is None:
                seqs[user] = seq = list(prefix)
                splits[user] = [split] * len(prefix)
            elif not prefix or len(prefix) > len(seq) or seq[len(seq) - len(prefix) :] != prefix:
                raise table.error(
                    row,
                    f"item_id_list of user {user!r} does not continue the history built from "
                    f"the lines before it (it should end with {seq[-1]!r})",
                )
            seq.append(target)
            splits[user].append(split)
    users = [u for u, seq in seqs.items() for _ in seq]
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(users, dtype=str),
            "item_id": pd.Series([i for seq in seqs.values() for i in seq], dtype=str),
            "timestamp": np.concatenate(
                [np.arange(len(seq), dtype="int64") for seq in seqs.values()]
            )
            if seqs
            else np.array([], dtype="int64"),
            "rating": np.full(len(users), np.nan),
            "split": pd.Series([s for seq in splits.values() for s in seq], dtype=str),
        }
    )
    return frame
