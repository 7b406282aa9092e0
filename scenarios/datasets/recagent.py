"""RecAgent's movie catalogue, 1,000 personas and their social graph.

RecAgent ships no interaction log (its simulator creates one), so the interactions frame is
empty; agents start with personas and friends but no history.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from scenarios.datasets.generic_csv import empty_interactions, genre_list, read_table, split_genres
from simulator.dataset import Dataset
from simulator.errors import DatasetError

_USER_COLUMNS = ("id", "name", "gender", "age", "traits", "status", "interest", "feature")
_LIST_SPACE = re.compile(r"\s*,\s*")


def load_recagent(
    path: str | Path,
    users_file: str = "user_1000.csv",
    relationship_file: str = "relationship_1000.csv",
) -> Dataset:
    """Load a RecAgent ``data`` folder: item.csv, a user file and a relationship file.

    Users keep every persona field as str: ``name, gender, age, traits, status,
    interests, feature`` (``interest`` is renamed ``interests`` and its list spacing
    normalised to "a, b"). Social edges are directed, as the file lists both directions.
    """
    root = Path(path)
    hint = f"a RecAgent folder holds item.csv, {users_file} and {relationship_file}"
    if not root.is_dir():
        raise DatasetError(root, f"folder not found; {hint}")

    item_table = read_table(
        root / "item.csv", sep=",", quoted=True, hint=hint,
        required=["id", "title", "genre", "description"],
    )  # fmt: skip
    item_table.require_unique("id", "item id")
    raw = item_table.frame
    items = pd.DataFrame(
        {
            "item_id": raw["id"].str.strip(),
            "title": raw["title"],
            "genres": split_genres(raw["genre"], "|"),
            "description": raw["description"],
        }
    )

    user_table = read_table(
        root / users_file, sep=",", quoted=True, hint=hint, required=list(_USER_COLUMNS)
    )
    user_table.require_unique("id", "user id")
    raw = user_table.frame
    users = pd.DataFrame(
        {
            "user_id": raw["id"].str.strip(),
            "name": raw["name"].str.strip(),
            "gender": raw["gender"].str.strip(),
            "age": raw["age"].str.strip(),
            "traits": raw["traits"].str.strip(),
            "status": raw["status"].str.strip(),
            "interests": raw["interest"].str.strip().str.replace(_LIST_SPACE, ", ", regex=True),
            "feature": raw["feature"].str.strip().str.strip(";"),
        }
    )

    social_table = read_table(
        root / relationship_file, sep=",", quoted=True, hint=hint,
        required=["user_1", "user_2", "relationship", "closeness"],
        kinds={"closeness": "float"},
    )  # fmt: skip
    for column in ("user_1", "user_2"):
        social_table.require_known(column, users["user_id"], column, root / users_file)
    raw = social_table.frame
    social = pd.DataFrame(
        {
            "source": raw["user_1"].str.strip(),
            "target": raw["user_2"].str.strip(),
            "relation": raw["relationship"].str.strip(),
            "weight": raw["closeness"].astype("float64"),
        }
    )

    return Dataset(
        name="recagent",
        users=users,
        items=items,
        interactions=empty_interactions(),
        social=social,
        source=str(root),
        meta={"kind": "recagent", "genres": genre_list(items["genres"]), "timestamp": "none"},
    )
