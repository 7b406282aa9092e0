"""Fidelity cases as JSONL files: the suite's own draw written out, or cases from elsewhere.

A folder holds up to three files, one JSON object per line:

* ``discrimination.jsonl``: one list per line, ``{"user_id", "negatives", "m", "items":
  [{"item_id", "label"}, ...]}``, with at least one positive and one negative;
* ``ranking.jsonl``: ``{"user_id", "candidates": [...], "target"}`` (the target among the
  candidates), and optionally ``"negatives"`` (how the others were drawn; "given" if absent);
* ``rating.jsonl``: ``{"user_id", "item_id", "rating"}``, the rating on the training data's
  own scale.

The dataset the suite is given with such a folder is the data the subjects fit on: its
users must include every user named and its catalogue every item. The held-out
interactions (positives, targets, rated pairs) are left out of it where it holds them, so
the whole dataset a draw came from answers that draw again with the same numbers. A bad
line is reported as the file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.dataset import Dataset, rating_scale
from simulator.errors import RecworldError
from simulator.fidelity.cases import (
    DISCRIMINATION_COLUMNS,
    RANKING_COLUMNS,
    RATING_COLUMNS,
    CaseConfig,
    Cases,
    without_pairs,
)

FILES = ("discrimination.jsonl", "ranking.jsonl", "rating.jsonl")
GIVEN = "given"
"""The kind of negatives of a ranking list that does not say."""


class CaseFileError(RecworldError):
    """A case file's line is malformed; the message names the file, line and field."""


def write_cases(cases: Cases, folder: str | Path) -> list[Path]:
    """Write ``cases`` as the three JSONL files under ``folder``; ``read_cases`` reads them."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    d, r = cases.discrimination, cases.ranking.sort_values(["list", "position"], kind="stable")
    discrimination = [
        {
            "user_id": rows["user_id"].iloc[0],
            "negatives": rows["kind"].iloc[0],
            "m": int(rows["m"].iloc[0]),
            "items": [
                {"item_id": i, "label": bool(label)}
                for i, label in zip(rows["item_id"], rows["label"], strict=True)
            ],
        }
        for _, rows in d.groupby("list", sort=True)
    ]
    ranking = [
        {
            "user_id": rows["user_id"].iloc[0],
            "negatives": rows["kind"].iloc[0],
            "candidates": rows["item_id"].tolist(),
            "target": rows.loc[rows["label"], "item_id"].iloc[0],
        }
        for _, rows in r.groupby("list", sort=True)
    ]
    rating = [
        {"user_id": u, "item_id": i, "rating": float(x)}
        for u, i, x in cases.rating[list(RATING_COLUMNS)].itertuples(index=False)
    ]
    written = []
    for name, rows in zip(FILES, (discrimination, ranking, rating), strict=True):
        path = out / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        written.append(path)
    return written


def read_cases(folder: str | Path, train: Dataset, config: CaseConfig | None = None) -> Cases:
    """Read the cases under ``folder``, to be answered by subjects fitted on ``train``.

    ``train`` loses every interaction of a held-out (user, item) pair (``Cases.dropped``
    counts them).

    Raises:
        CaseFileError: A missing folder, no case file, or a bad line (file, line, field).
    """
    root = Path(folder)
    if not root.is_dir() or not any((root / name).is_file() for name in FILES):
        raise CaseFileError(f"{root}: no case files here; expected one of {', '.join(FILES)}")
    reader = _Reader(train)
    discrimination = reader.discrimination(root / FILES[0])
    ranking = reader.ranking(root / FILES[1])
    rating = reader.rating(root / FILES[2])
    held = pd.DataFrame(reader.held, columns=["user_id", "item_id"])
    train, dropped = without_pairs(train, held)
    counts = train.interactions["item_id"].astype(str).value_counts()
    users = sorted(
        set(discrimination["user_id"]) | set(ranking["user_id"]) | set(rating["user_id"])
    )
    return Cases(
        train=train,
        users=users,
        discrimination=discrimination,
        ranking=ranking,
        rating=rating,
        popularity=counts.reindex(sorted(reader.items), fill_value=0),
        config=config or CaseConfig(),
        scale=reader.scale,
        source=str(root),
        dropped=dropped,
    )


class _Reader:
    """Parses the files line by line against the training data."""

    def __init__(self, train: Dataset) -> None:
        self.users = set(train.users["user_id"].astype(str))
        self.items = set(train.items["item_id"].astype(str))
        self.scale = rating_scale(train)
        self.held: list[tuple[str, str]] = []  # (user, item) of every held-out case

    def discrimination(self, path: Path) -> pd.DataFrame:
        rows = []
        for n, line, record in self._lines(path):
            user = self._id(record, "user_id", line)
            kind = self._text(record, "negatives", line)
            m = record.get("m")
            if isinstance(m, bool) or not isinstance(m, int) or m < 1:
                raise line.error("m", f"expected a positive integer, got {m!r}")
            items = record.get("items")
            if not isinstance(items, list) or not items:
                raise line.error("items", "expected a non-empty list of {item_id, label}")
            labels = []
            for k, entry in enumerate(items):
                if not isinstance(entry, dict):
                    raise line.error(f"items[{k}]", "expected an object {item_id, label}")
                item = self._item(entry, "item_id", line, f"items[{k}].item_id")
                label = entry.get("label")
                if not isinstance(label, bool):
                    raise line.error(f"items[{k}].label", f"expected true or false, got {label!r}")
                labels.append(label)
                rows.append((n, user, item, label, kind, m))
                if label:
                    self.held.append((user, item))
            if all(labels) or not any(labels):
                raise line.error("items", "a list needs at least one positive and one negative")
            positives = sum(labels)
            if len(labels) - positives != m * positives:
                raise line.error(
                    "m",
                    f"m = {m} means {m} negative(s) per positive, but the list has "
                    f"{positives} positive(s) and {len(labels) - positives} negative(s)",
                )
        return _frame(rows, DISCRIMINATION_COLUMNS)

    def ranking(self, path: Path) -> pd.DataFrame:
        rows = []
        for n, line, record in self._lines(path):
            user = self._id(record, "user_id", line)
            kind = self._text(record, "negatives", line) if "negatives" in record else GIVEN
            candidates = record.get("candidates")
            if not isinstance(candidates, list) or len(candidates) < 2:
                raise line.error("candidates", "expected a list of at least two item ids")
            ids = [
                self._item({"c": c}, "c", line, f"candidates[{k}]")
                for k, c in enumerate(candidates)
            ]
            if len(set(ids)) < len(ids):
                raise line.error("candidates", "an item id appears twice")
            target = self._item(record, "target", line, "target")
            if target not in ids:
                raise line.error("target", f"{target!r} is not among the candidates")
            self.held.append((user, target))
            rows.extend(
                (n, user, item, item == target, kind, position)
                for position, item in enumerate(ids, 1)
            )
        return _frame(rows, RANKING_COLUMNS)

    def rating(self, path: Path) -> pd.DataFrame:
        rows = []
        for _, line, record in self._lines(path):
            if self.scale is None:
                raise line.error(
                    "rating", "the training data has no ratings, so there is no scale to rate on"
                )
            user = self._id(record, "user_id", line)
            item = self._item(record, "item_id", line, "item_id")
            value = record.get("rating")
            levels = self.scale.levels
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not np.isclose(levels, float(value), atol=1e-6).any()
            ):
                raise line.error(
                    "rating", f"{value!r} is not a level of the training data's scale "
                    f"({self.scale.describe()})"
                )  # fmt: skip
            self.held.append((user, item))
            rows.append((user, item, float(value)))
        return _frame(rows, RATING_COLUMNS)

    def _lines(self, path: Path):
        if not path.is_file():
            return
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            line = _Line(str(path), number)
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise line.error(None, f"not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise line.error(None, "expected a JSON object")
            yield number, line, record

    def _id(self, record: dict[str, Any], field: str, line: _Line) -> str:
        value = _as_id(record.get(field))
        if value is None:
            raise line.error(field, f"expected a string or integer id, got {record.get(field)!r}")
        if value not in self.users:
            raise line.error(field, f"{value!r} is not a user of the training data")
        return value

    def _item(self, record: dict[str, Any], key: str, line: _Line, field: str) -> str:
        value = _as_id(record.get(key))
        if value is None:
            raise line.error(field, f"expected a string or integer id, got {record.get(key)!r}")
        if value not in self.items:
            raise line.error(field, f"{value!r} is not an item of the training data")
        return value

    @staticmethod
    def _text(record: dict[str, Any], field: str, line: _Line) -> str:
        value = record.get(field)
        if not isinstance(value, str) or not value:
            raise line.error(field, f"expected a name such as 'uniform', got {value!r}")
        return value


class _Line:
    def __init__(self, name: str, number: int) -> None:
        self.name, self.number = name, number

    def error(self, field: str | None, message: str) -> CaseFileError:
        where = f"{self.name} line {self.number}" + (f", field {field}" if field else "")
        return CaseFileError(f"{where}: {message}")


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _frame(rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    if "list" in frame:
        frame["list"] = pd.factorize(frame["list"])[0]
    if "label" in frame:
        frame["label"] = frame["label"].astype(bool)
    if "rating" in frame:
        frame["rating"] = frame["rating"].astype(float)
    return frame
