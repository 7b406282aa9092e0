"""MovieLens 100K, 1M and the "latest" releases (ml-latest-small, 25M, 32M), read in place
from GroupLens' own file layouts.

Titles keep the year as the source writes it ("Toy Story (1995)"); MovieLens has no plot
text, so ``description`` is empty rather than invented, except in the latest releases,
whose users' own tags become the description ("Tags: ...").
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.datasets.generic_csv import Table, read_table, split_genres
from simulator.dataset import Dataset
from simulator.errors import DatasetError

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"

ML100K_FILES = ("u.data", "u.item", "u.user", "u.genre")
ML1M_FILES = ("ratings.dat", "movies.dat", "users.dat")
LATEST_FILES = ("ratings.csv", "movies.csv")
LATEST_TAGS = 10
"""At most this many of a film's most used tags make its description."""

ML1M_GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
"""The 18 genres ML-1M's README lists, in its order."""

ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
"""ML-1M stores occupations as codes 0–20; these are the README's names for them."""

_ENCODING = "latin-1"  # GroupLens' files are Latin-1 (accented titles in u.item/movies.dat)


def load_movielens_100k(path: str | Path) -> Dataset:
    """Load an ``ml-100k`` folder (u.data, u.item, u.user, u.genre).

    Users gain ``age`` (int64), ``gender``, ``occupation``, ``zip_code``; items gain
    ``release_date`` and ``imdb_url``. Interactions keep the order of u.data.
    """
    root = Path(path)
    hint = _require_folder(root, "MovieLens 100K", ML100K_FILES)

    genre_table = read_table(
        root / "u.genre", sep="|", columns=["genre", "index"], kinds={"index": "int"},
        encoding=_ENCODING, describe="genre name, index", hint=hint,
    )  # fmt: skip
    genre_table.require_unique("genre")
    index = genre_table.frame["index"].to_numpy()
    wrong = index != np.arange(len(index))
    if wrong.any():
        row = int(np.argmax(wrong))
        raise genre_table.error(row, f"genre index {index[row]} should be {row} (0, 1, 2…)")
    genres = genre_table.frame["genre"].tolist()

    flag_columns = [f"genre_{i}" for i in range(len(genres))]
    item_table = read_table(
        root / "u.item",
        sep="|",
        columns=[
            "item_id",
            "title",
            "release_date",
            "video_release_date",
            "imdb_url",
            *flag_columns,
        ],
        kinds=dict.fromkeys(flag_columns, "int"),
        encoding=_ENCODING,
        describe=f"id, title, release date, video release date, IMDb URL, "
        f"{len(genres)} genre flags as u.genre lists",
        hint=hint,
    )
    item_table.require_unique("item_id")
    flags = item_table.frame[flag_columns].to_numpy()
    bad = ~np.isin(flags, (0, 1))
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        raise item_table.error(row, f"genre flag {genres[col]!r} is {flags[row, col]}, not 0 or 1")
    names = np.array(genres, dtype=object)
    items = item_table.frame[["item_id", "title"]].copy()
    items["genres"] = pd.Series([tuple(names[row == 1]) for row in flags], dtype=object)
    items["description"] = ""
    items["release_date"] = item_table.frame["release_date"]
    items["imdb_url"] = item_table.frame["imdb_url"]

    user_table = read_table(
        root / "u.user", sep="|", columns=["user_id", "age", "gender", "occupation", "zip_code"],
        kinds={"age": "int"}, encoding=_ENCODING,
        describe="id, age, gender, occupation, zip code", hint=hint,
    )  # fmt: skip
    user_table.require_unique("user_id")

    ratings = read_table(
        root / "u.data", sep="\t", columns=["user_id", "item_id", "rating", "timestamp"],
        kinds={"rating": "float", "timestamp": "int"}, encoding=_ENCODING,
        describe="user, item, rating, timestamp", hint=hint,
    )  # fmt: skip
    _check_ratings(ratings, root, user_table, item_table)

    return Dataset(
        name="ml-100k",
        users=user_table.frame,
        items=items,
        interactions=ratings.frame,
        social=None,
        source=str(root),
        meta={"kind": "movielens-100k", "genres": genres, "rating_scale": (1.0, 5.0),
              "timestamp": "unix"},
    )  # fmt: skip


def load_movielens_1m(path: str | Path) -> Dataset:
    """Load an ``ml-1m`` folder (ratings.dat, movies.dat, users.dat; ``::``-separated).

    Users gain ``gender``, ``age`` (int64, the README's bracket code: 1, 18, 25, …),
    ``occupation`` (the README's name for the code) and ``zip_code``.
    """
    root = Path(path)
    hint = _require_folder(root, "MovieLens 1M", ML1M_FILES)

    item_table = read_table(
        root / "movies.dat", sep="::", columns=["item_id", "title", "genres"],
        encoding=_ENCODING, describe="movie id, title, genres", hint=hint,
    )  # fmt: skip
    item_table.require_unique("item_id")
    items = item_table.frame.copy()
    items["genres"] = split_genres(items["genres"], "|")
    items["description"] = ""
    items = items[["item_id", "title", "genres", "description"]]

    user_table = read_table(
        root / "users.dat", sep="::",
        columns=["user_id", "gender", "age", "occupation", "zip_code"],
        kinds={"age": "int", "occupation": "int"}, encoding=_ENCODING,
        describe="user id, gender, age, occupation, zip code", hint=hint,
    )  # fmt: skip
    user_table.require_unique("user_id")
    users = user_table.frame.copy()
    codes = users["occupation"].to_numpy()
    bad = (codes < 0) | (codes >= len(ML1M_OCCUPATIONS))
    if bad.any():
        row = int(np.argmax(bad))
        raise user_table.error(
            row, f"occupation code {codes[row]} is not one of 0–{len(ML1M_OCCUPATIONS) - 1}"
        )
    users["occupation"] = pd.Series(np.array(ML1M_OCCUPATIONS, dtype=object)[codes], dtype=str)

    ratings = read_table(
        root / "ratings.dat", sep="::", columns=["user_id", "item_id", "rating", "timestamp"],
        kinds={"rating": "float", "timestamp": "int"}, encoding=_ENCODING,
        describe="user, movie, rating, timestamp", hint=hint,
    )  # fmt: skip
    _check_ratings(ratings, root, user_table, item_table)

    used = {g for tup in items["genres"] for g in tup}
    genres = [*ML1M_GENRES, *sorted(used - set(ML1M_GENRES))]
    return Dataset(
        name="ml-1m",
        users=users,
        items=items,
        interactions=ratings.frame,
        social=None,
        source=str(root),
        meta={"kind": "movielens-1m", "genres": genres, "rating_scale": (1.0, 5.0),
              "timestamp": "unix"},
    )  # fmt: skip


def load_movielens_latest(path: str | Path) -> Dataset:
    """Load a MovieLens "latest" folder (ratings.csv, movies.csv, tags.csv when present).

    Ratings run from 0.5 to 5 in half stars. Users are the rating ids (the release has no
    user file). A rating of a film movies.csv does not list cannot be simulated: it is
    dropped, with one warning naming the file, how many and the first line.
    """
    root = Path(path)
    hint = _require_folder(root, "MovieLens latest", LATEST_FILES)
    item_table = read_table(
        root / "movies.csv", sep=",", quoted=True, required=("movieId", "title", "genres"),
        hint=hint,
    )  # fmt: skip
    item_table.require_unique("movieId", "movieId")
    items = item_table.frame.rename(columns={"movieId": "item_id"})[["item_id", "title"]]
    genres = item_table.frame["genres"].where(
        item_table.frame["genres"] != "(no genres listed)", ""
    )
    items["genres"] = split_genres(genres, "|")
    items["description"] = _tag_descriptions(root / "tags.csv", items["item_id"], hint)

    ratings = read_table(
        root / "ratings.csv", sep=",", quoted=True,
        required=("userId", "movieId", "rating", "timestamp"),
        kinds={"rating": "float", "timestamp": "int"}, hint=hint,
    )  # fmt: skip
    frame = ratings.frame.rename(columns={"userId": "user_id", "movieId": "item_id"})
    values = frame["rating"].to_numpy()
    outside = (values < 0.5) | (values > 5)
    if outside.any():
        row = int(np.argmax(outside))
        raise ratings.error(row, f"rating {values[row]:g} is outside the 0.5–5 scale")
    known = frame["item_id"].isin(pd.Index(items["item_id"])).to_numpy()
    if not known.all():
        first = ratings.line_of(int(np.argmin(known)))
        warnings.warn(
            f"{ratings.path}: dropped {int((~known).sum())} rating(s) of films not in "
            f"movies.csv (first at line {first})",
            stacklevel=2,
        )
        frame = frame[known].reset_index(drop=True)
    interactions = frame[["user_id", "item_id", "timestamp", "rating"]]
    users = pd.DataFrame({"user_id": interactions["user_id"].drop_duplicates().to_list()})
    used = sorted({g for tup in items["genres"] for g in tup})
    return Dataset(
        name=root.name,
        users=users,
        items=items.reset_index(drop=True),
        interactions=interactions,
        social=None,
        source=str(root),
        meta={"kind": "movielens-latest", "genres": used, "rating_scale": (0.5, 5.0),
              "timestamp": "unix"},
    )  # fmt: skip


def _tag_descriptions(path: Path, item_ids: pd.Series, hint: str) -> pd.Series:
    """Each film's most used tags as "Tags: a, b, c"; empty without tags.csv or tags."""
    if not path.exists():
        return pd.Series([""] * len(item_ids), dtype=str)
    tags = read_table(
        path, sep=",", quoted=True, required=("userId", "movieId", "tag"), hint=hint
    ).frame
    tags = tags.assign(tag=tags["tag"].str.strip().str.lower())
    counts = tags[tags["tag"] != ""].groupby(["movieId", "tag"]).size().rename("n")
    counts = counts.reset_index().sort_values(
        ["movieId", "n", "tag"], ascending=[True, False, True]
    )
    top = counts.groupby("movieId")["tag"].apply(lambda t: ", ".join(t.head(LATEST_TAGS)))
    text = item_ids.map(top)
    return text.map(lambda t: f"Tags: {t}" if isinstance(t, str) and t else "").astype(str)


def download_movielens(name: str, cache: Path, *, timeout: float = 20.0) -> Path:
    """Fetch GroupLens' zip for ``name`` ("ml-100k" or "ml-1m") into ``cache``; return the folder.

    Only called when the caller asked for it (``download=True``): the data's licence asks
    users to fetch it themselves, and tests must never touch the network.
    """
    url = GROUPLENS_URL.format(name=name)
    target = cache / name
    if target.is_dir():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            cache.mkdir(parents=True, exist_ok=True)
            archive.extractall(cache)
    except (urllib.error.URLError, OSError, zipfile.BadZipFile, TimeoutError) as exc:
        raise DatasetError(
            url,
            f"download failed ({exc}); fetch {url} by hand, unzip it and pass its folder "
            "with --data-dir or RECWORLD_DATA",
        ) from None
    if not target.is_dir():
        raise DatasetError(url, f"the archive did not contain a {name}/ folder")
    return target


def _require_folder(root: Path, what: str, files: tuple[str, ...]) -> str:
    hint = f"a {what} folder holds {', '.join(files)}"
    if not root.is_dir():
        raise DatasetError(root, f"folder not found; {hint}")
    return hint


def _check_ratings(ratings: Table, root: Path, users: Table, items: Table) -> None:
    values = ratings.frame["rating"].to_numpy()
    outside = (values < 1) | (values > 5)
    if outside.any():
        row = int(np.argmax(outside))
        raise ratings.error(row, f"rating {values[row]:g} is outside the 1–5 scale")
    ratings.require_known("user_id", users.frame["user_id"], "user", users.path)
    ratings.require_known("item_id", items.frame["item_id"], "item", items.path)
