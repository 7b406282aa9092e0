"""Dataset loaders: every source becomes one normalised ``simulator.dataset.Dataset``.

``load_dataset`` is the single entry point scenarios and the CLI use; it resolves a
relative path against ``--data-dir`` and ``RECWORLD_DATA`` so scenario files can name
datasets without machine-specific paths.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenarios.datasets.generic_csv import load_csv
from scenarios.datasets.movielens import (
    LATEST_FILES,
    download_movielens,
    load_movielens_1m,
    load_movielens_100k,
    load_movielens_latest,
)
from scenarios.datasets.recagent import load_recagent
from scenarios.datasets.recbole import load_recbole
from scenarios.datasets.synthetic import generate_synthetic
from simulator.dataset import Dataset
from simulator.errors import DatasetError

__all__ = [
    "DATASET_KINDS",
    "LOADERS",
    "generate_synthetic",
    "guess_kind",
    "load_csv",
    "load_dataset",
    "load_movielens_1m",
    "load_movielens_100k",
    "load_movielens_latest",
    "load_recagent",
    "load_recbole",
    "resolve_path",
]

LOADERS: dict[str, Callable[..., Dataset]] = {
    "movielens-100k": load_movielens_100k,
    "movielens-1m": load_movielens_1m,
    "movielens-latest": load_movielens_latest,
    "recagent": load_recagent,
    "recbole": load_recbole,
    "csv": load_csv,
    "synthetic": generate_synthetic,
}
DATASET_KINDS: tuple[str, ...] = tuple(LOADERS)

DEFAULT_PATHS = {
    "movielens-100k": "ml-100k",
    "movielens-1m": "ml-1m",
    "movielens-latest": "ml-latest-small",
    "recagent": "recagent",
}
"""Folder names tried when a scenario gives a kind but no path."""

DATA_ENV = "RECWORLD_DATA"
CACHE_DIR = Path.home() / ".cache" / "recworld"
_MOVIELENS = {"movielens-100k": "ml-100k", "movielens-1m": "ml-1m"}


def load_dataset(
    kind: str,
    path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    **options: Any,
) -> Dataset:
    """Load a dataset of ``kind`` from ``path`` with loader-specific ``options``.

    Args:
        kind: One of ``DATASET_KINDS``.
        path: Dataset folder (a file for ``csv``); relative paths are tried as given, then
            under ``data_dir``, then under each folder in ``$RECWORLD_DATA``. Ignored by
            ``synthetic``; defaults to ``ml-100k``/``ml-1m``/``recagent`` for those kinds.
        data_dir: The CLI's ``--data-dir``.
        **options: Passed to the loader (e.g. ``keep_all_items`` for recbole, ``n_users``
            for synthetic). MovieLens kinds also take ``download=True`` to fetch the
            GroupLens zip into ``~/.cache/recworld/`` when the folder is nowhere found.

    Raises:
        DatasetError: Unknown kind or option, a folder not found (naming every place
            tried), or a malformed file (naming the file and line).
    """
    if kind not in LOADERS:
        raise DatasetError(kind, f"unknown dataset kind; choose one of {', '.join(DATASET_KINDS)}")
    loader = LOADERS[kind]
    if kind == "synthetic":
        return _call(loader, kind, (), options)
    download = bool(options.pop("download", False)) if kind in _MOVIELENS else False
    if path is None:
        if kind not in DEFAULT_PATHS:
            raise DatasetError(
                kind, f"a {kind} dataset needs a path (dataset.path or the command's PATH argument)"
            )
        path = DEFAULT_PATHS[kind]
    try:
        resolved = resolve_path(path, data_dir, extra=_cache_candidates(kind, path))
    except DatasetError:
        if not download:
            raise
        resolved = download_movielens(_MOVIELENS[kind], CACHE_DIR)
    if kind == "csv":
        return _call(loader, kind, (), _csv_options(resolved, options))
    return _call(loader, kind, (resolved,), options)


def resolve_path(
    path: str | Path, data_dir: str | Path | None = None, *, extra: tuple[Path, ...] = ()
) -> Path:
    """Find ``path`` as given, under ``data_dir``, under ``$RECWORLD_DATA``, then ``extra``.

    Raises:
        DatasetError: Listing every place tried and how to point at the data.
    """
    given = Path(path).expanduser()
    if given.is_absolute():
        candidates = [given]
    else:
        roots = [data_dir] if data_dir else []
        roots += [p for p in os.environ.get(DATA_ENV, "").split(os.pathsep) if p]
        candidates = [given, *(Path(root).expanduser() / given for root in roots)]
    candidates += [c for c in extra if c not in candidates]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c.absolute()) for c in candidates)
    hint = (
        "check the path"
        if given.is_absolute()
        else f"pass --data-dir DIR (the folder that holds {given}) or set {DATA_ENV}=DIR"
    )
    raise DatasetError(path, f"dataset not found; tried {tried}; {hint}")


def guess_kind(path: str | Path, data_dir: str | Path | None = None) -> str:
    """Guess a dataset's kind from the files in its folder, for ``recworld data info``."""
    if str(path) == "synthetic":
        return "synthetic"
    name = Path(path).name
    for kind, default in DEFAULT_PATHS.items():
        if name == default:
            return kind
    found = resolve_path(path, data_dir)
    if found.is_file():
        if found.suffix == ".inter":
            return "recbole"
        if found.suffix in (".csv", ".tsv", ".txt"):
            return "csv"
        raise DatasetError(found, "cannot tell the dataset kind from this file; pass --kind")
    checks = (
        ("movielens-100k", lambda d: (d / "u.data").is_file()),
        ("movielens-1m", lambda d: (d / "ratings.dat").is_file()),
        ("movielens-latest", lambda d: all((d / f).is_file() for f in LATEST_FILES)),
        ("recagent", lambda d: (d / "item.csv").is_file()),
        ("recbole", lambda d: any(d.glob("*.inter"))),
        ("csv", lambda d: (d / "interactions.csv").is_file()),
    )
    for kind, check in checks:
        if check(found):
            return kind
    raise DatasetError(
        found,
        "cannot tell the dataset kind: no u.data, ratings.dat, item.csv, *.inter or "
        f"interactions.csv here; pass --kind (one of {', '.join(DATASET_KINDS)})",
    )


def _cache_candidates(kind: str, path: str | Path) -> tuple[Path, ...]:
    name = _MOVIELENS.get(kind)
    return (CACHE_DIR / name,) if name and Path(path).name == name else ()


def _csv_options(resolved: Path, options: dict[str, Any]) -> dict[str, Any]:
    """A csv folder means interactions.csv plus items.csv/users.csv when present."""
    options = dict(options)
    folder = resolved if resolved.is_dir() else resolved.parent
    if resolved.is_dir():
        options["interactions"] = resolved / "interactions.csv"
        options.setdefault("name", resolved.name)
        for key in ("items", "users"):
            if key not in options and (resolved / f"{key}.csv").is_file():
                options[key] = resolved / f"{key}.csv"
    else:
        options["interactions"] = resolved
    for key in ("items", "users"):
        value = options.get(key)
        if value is not None and not Path(value).is_absolute() and not Path(value).exists():
            options[key] = folder / value
    return options


def _call(
    loader: Callable[..., Dataset], kind: str, args: tuple[Any, ...], options: dict[str, Any]
) -> Dataset:
    """Call ``loader``, turning a misspelt option into a ``DatasetError`` listing valid ones."""
    signature = inspect.signature(loader)
    try:
        signature.bind(*args, **options)
    except TypeError:
        allowed = [p for p in signature.parameters if p not in ("path", "interactions")]
        if kind in _MOVIELENS:
            allowed.append("download")
        bad = sorted(set(options) - set(signature.parameters)) or sorted(options)
        raise DatasetError(
            kind, f"unknown or misplaced option(s) {bad}; {kind} accepts {allowed}"
        ) from None
    dataset = loader(*args, **options)
    for problem in suspect_interactions(dataset):
        warnings.warn(f"{dataset.name}: {problem}", stacklevel=2)
    return dataset


def suspect_interactions(dataset: Dataset) -> list[str]:
    """What a loaded log holds that is legal but likely a mistake, one line each: a user
    rating one item more than once (and with different ratings), timestamps before 1970.
    Repeated *unrated* interactions are normal (a CD played twice) and are not reported;
    an empty file is reported by ``read_table`` as it is read."""
    inter = dataset.interactions
    problems = []
    rated = inter[inter["rating"].notna()]
    if len(rated):
        repeats = rated[rated.duplicated(["user_id", "item_id"], keep=False)]
        if len(repeats):
            pairs = repeats.groupby(["user_id", "item_id"])["rating"].nunique()
            conflicting = int((pairs > 1).sum())
            first = repeats.iloc[0]
            problems.append(
                f"{len(pairs):,} user-item pair(s) rated more than once, {conflicting:,} of "
                f"them with different ratings (first: user {first['user_id']}, item "
                f"{first['item_id']}); every row is kept"
            )
    negative = int((inter["timestamp"] < 0).sum())
    if negative:
        problems.append(f"{negative:,} interaction(s) have a timestamp before 1970 (negative)")
    return problems
