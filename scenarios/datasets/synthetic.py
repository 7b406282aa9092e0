"""A seeded synthetic world whose ground truth is known, for tests and quick runs.

Users carry the latent genre tastes and behavioural traits that generated their history,
so a simulation can be checked against what the data was made from. Everything is drawn
from one ``numpy`` generator in a fixed order: the same arguments give identical frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.errors import DatasetError

GENRE_NAMES = (
    "Drama", "Comedy", "Action", "Thriller", "Romance", "Sci-Fi", "Adventure", "Crime",
    "Horror", "Animation", "Documentary", "Fantasy", "Mystery", "Family", "Musical",
    "War", "History", "Western", "Sport", "Biography",
)  # fmt: skip
"""Genres in falling order of how common they are among items."""

LEVELS = ("low", "medium", "high")
LEVEL_SHARES = (0.3, 0.4, 0.3)
DIVERSITY_ALPHA = {"low": 0.15, "medium": 0.4, "high": 1.0}
"""Dirichlet concentration per diversity level: low diversity = taste on few genres."""
CONFORMITY_EXPONENT = {"low": 0.4, "medium": 0.8, "high": 1.2}
"""How strongly popularity weighs in a user's choices."""
ACTIVITY_MULTIPLIER = {"low": 0.5, "medium": 1.0, "high": 1.8}
"""Scales the expected history length and the pace of interactions."""

ZIPF_EXPONENT = 1.0
EXPLORATION = 0.02  # keeps off-taste items possible, as real logs have some
START = 1_577_836_800  # 2020-01-01T00:00:00Z
DAY = 86_400

_ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Broken", "Golden", "Last", "Distant", "Electric",
    "Frozen", "Wild", "Midnight", "Hollow", "Burning", "Secret", "Lost", "Paper",
    "Iron", "Velvet", "Restless", "Quiet", "Scarlet", "Endless", "Northern", "Glass",
    "Shattered", "Lonely", "Bright", "Forgotten", "Savage", "Gentle",
)  # fmt: skip
_NOUNS = (
    "Harbor", "Garden", "Empire", "Signal", "River", "Machine", "Promise", "Orchard",
    "Frontier", "Letter", "Kingdom", "Station", "Horizon", "Mirror", "Circus", "Lighthouse",
    "Engine", "Summer", "Voyage", "Citadel", "Rebellion", "Melody", "Shadow", "Compass",
    "Carnival", "Winter", "Island", "Archive", "Storm", "Crown",
)  # fmt: skip
_TONES = (
    "gripping", "quiet", "sweeping", "offbeat", "tender", "dark", "playful", "sharp",
    "sprawling", "intimate", "breezy", "haunting",
)  # fmt: skip
_SUBJECTS = (
    "a lighthouse keeper who finds a message", "two rivals forced to share a secret",
    "a town that forgets one day each year", "a family reunion that goes wrong",
    "an engineer racing a deadline", "a detective with one last case",
    "a band on its final tour", "strangers stranded by a storm",
    "a forger who paints the truth", "a pilot lost over the ocean",
    "a teacher who starts a revolution", "siblings searching for a missing parent",
    "a chef who cooks for a king", "an expedition beneath the ice",
    "a hacker who hears voices in the network", "neighbours feuding over a garden",
)  # fmt: skip
_GENDERS = ("female", "male", "non-binary")
_GENDER_SHARES = (0.49, 0.49, 0.02)
_OCCUPATIONS = (
    "student", "engineer", "teacher", "artist", "nurse", "programmer", "writer",
    "retired", "salesperson", "scientist", "lawyer", "technician",
)  # fmt: skip


MAX_USERS = 1_000_000
MAX_ITEMS = 1_000_000
MAX_INTERACTIONS = 50_000_000
"""The generator's limits: above them a run would exhaust memory before its first step
(100 million users took 2.4 GB and a MemoryError after a minute), so they are refused."""


def generate_synthetic(
    n_users: int = 200,
    n_items: int = 500,
    n_genres: int = 12,
    history_per_user: int = 20,
    seed: int = 0,
) -> Dataset:
    """Generate users, items and a history from latent tastes and popularity.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        n_genres: Size of the genre vocabulary (names beyond 20 are "Genre N").
        history_per_user: Mean history length of a medium-activity user (Poisson).
        seed: Seed of the single generator everything is drawn from.

    Users gain ``age`` (int64), ``gender``, ``occupation``, ``activity``, ``conformity``,
    ``diversity`` ("low"/"medium"/"high") and ``taste`` (tuple of floats summing to 1, in
    the order of ``meta["genres"]``). Items gain ``popularity`` (latent Zipf share,
    summing to 1). Ratings are 1–5 from taste affinity plus noise; timestamps increase
    along each user's history from 2020-01-01.
    """
    for label, value, low, high in (
        ("n_users", n_users, 1, MAX_USERS), ("n_items", n_items, 1, MAX_ITEMS),
        ("n_genres", n_genres, 1, 1000), ("history_per_user", history_per_user, 0, 10_000),
        ("seed", seed, 0, 2**63 - 1),
    ):  # fmt: skip
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise DatasetError("synthetic", f"{label} must be an integer ≥ {low}, got {value!r}")
        if value > high:
            raise DatasetError(
                "synthetic", f"{label}={value:,} is above the generator's limit of {high:,}"
            )
    if n_users * history_per_user > MAX_INTERACTIONS:
        raise DatasetError(
            "synthetic",
            f"n_users × history_per_user = {n_users * history_per_user:,} interactions is above "
            f"the generator's limit of {MAX_INTERACTIONS:,}; generate fewer, or load real data",
        )
    rng = np.random.default_rng(seed)
    genres = [*GENRE_NAMES[:n_genres]] + [
        f"Genre {i + 1}" for i in range(len(GENRE_NAMES), n_genres)
    ]

    items, membership = _items(rng, n_items, genres)
    users, tastes = _users(rng, n_users, genres)
    interactions = _history(rng, users, tastes, items, membership, history_per_user)

    return Dataset(
        name="synthetic",
        users=users,
        items=items,
        interactions=interactions,
        social=None,
        source="synthetic",
        meta={
            "kind": "synthetic",
            "genres": genres,
            "seed": seed,
            "params": {"n_users": n_users, "n_items": n_items, "n_genres": n_genres,
                       "history_per_user": history_per_user},
            "rating_scale": (1.0, 5.0),
            "timestamp": "unix",
        },
    )  # fmt: skip


def _items(
    rng: np.random.Generator, n_items: int, genres: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Items with 1–3 genres, titles, descriptions and long-tail latent popularity.

    Returns the frame and the membership matrix (items × genres, rows summing to 1).
    """
    n_genres = len(genres)
    prior = 1.0 / np.arange(1, n_genres + 1) ** 0.6
    prior /= prior.sum()
    membership = np.zeros((n_items, n_genres))
    item_genres: list[tuple[str, ...]] = []
    titles: list[str] = []
    descriptions: list[str] = []
    seen: dict[str, int] = {}
    for j in range(n_items):
        k = min(int(rng.choice((1, 2, 3), p=(0.5, 0.35, 0.15))), n_genres)
        chosen = rng.choice(n_genres, size=k, replace=False, p=prior)
        membership[j, chosen] = 1.0 / k
        names = tuple(genres[g] for g in chosen)
        item_genres.append(names)
        base = f"{_ADJECTIVES[rng.integers(len(_ADJECTIVES))]} {_NOUNS[rng.integers(len(_NOUNS))]}"
        if rng.random() < 0.4:
            base = f"The {base}"
        seen[base] = seen.get(base, 0) + 1
        titles.append(base if seen[base] == 1 else f"{base} {_roman(seen[base])}")
        tone = _TONES[rng.integers(len(_TONES))]
        subject = _SUBJECTS[rng.integers(len(_SUBJECTS))]
        descriptions.append(f"A {tone} {_join(names)} story about {subject}.")
    ranks = rng.permutation(n_items)
    popularity = 1.0 / (ranks + 1.0) ** ZIPF_EXPONENT
    popularity /= popularity.sum()
    frame = pd.DataFrame(
        {
            "item_id": pd.Series([f"i{j}" for j in range(n_items)], dtype=str),
            "title": pd.Series(titles, dtype=str),
            "genres": pd.Series(item_genres, dtype=object),
            "description": pd.Series(descriptions, dtype=str),
            "popularity": popularity,
        }
    )
    return frame, membership


def _users(
    rng: np.random.Generator, n_users: int, genres: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Users with traits, demographics and a Dirichlet taste over genres."""
    traits = {
        name: np.array(LEVELS, dtype=object)[rng.choice(3, size=n_users, p=LEVEL_SHARES)]
        for name in ("activity", "conformity", "diversity")
    }
    tastes = np.vstack(
        [rng.dirichlet(np.full(len(genres), DIVERSITY_ALPHA[level]))
         for level in traits["diversity"]]
    ) if n_users else np.zeros((0, len(genres)))  # fmt: skip
    age = rng.integers(18, 71, size=n_users).astype("int64")
    gender = np.array(_GENDERS, dtype=object)[rng.choice(3, size=n_users, p=_GENDER_SHARES)]
    occupation = np.array(_OCCUPATIONS, dtype=object)[rng.integers(len(_OCCUPATIONS), size=n_users)]
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([f"u{i}" for i in range(n_users)], dtype=str),
            "age": age,
            "gender": pd.Series(gender, dtype=str),
            "occupation": pd.Series(occupation, dtype=str),
            **{name: pd.Series(values, dtype=str) for name, values in traits.items()},
            "taste": pd.Series([tuple(float(x) for x in row) for row in tastes], dtype=object),
        }
    )
    return frame, tastes


def _history(
    rng: np.random.Generator,
    users: pd.DataFrame,
    tastes: np.ndarray,
    items: pd.DataFrame,
    membership: np.ndarray,
    history_per_user: int,
) -> pd.DataFrame:
    """Draw each user's items by taste × popularity^conformity, then rate and time them."""
    n_items = len(items)
    popularity = items["popularity"].to_numpy()
    user_col: list[np.ndarray] = []
    item_col: list[np.ndarray] = []
    time_col: list[np.ndarray] = []
    rating_col: list[np.ndarray] = []
    rows = zip(users["user_id"], users["activity"], users["conformity"], tastes, strict=True)
    for user, activity, conformity, taste in rows:
        multiplier = ACTIVITY_MULTIPLIER[activity]
        n = int(rng.poisson(history_per_user * multiplier))
        n = min(max(n, 1 if history_per_user else 0), n_items)
        affinity = membership @ taste  # mean taste over each item's genres
        weights = (affinity + EXPLORATION) * popularity ** CONFORMITY_EXPONENT[conformity]
        chosen = rng.choice(n_items, size=n, replace=False, p=weights / weights.sum())
        relative = affinity[chosen] / taste.max()
        noisy = 1.8 + 3.0 * np.sqrt(relative) + rng.normal(0.0, 0.8, size=n)
        ratings = np.clip(np.rint(noisy), 1, 5)
        gaps = 1 + rng.exponential(2 * DAY / multiplier, size=n).astype("int64")
        start = START + int(rng.integers(90 * DAY))
        user_col.append(np.full(n, user, dtype=object))
        item_col.append(chosen)
        time_col.append(start + np.cumsum(gaps))
        rating_col.append(ratings)
    item_ids = items["item_id"].to_numpy(dtype=object)
    chosen_all = np.concatenate(item_col) if item_col else np.array([], dtype=int)
    return pd.DataFrame(
        {
            "user_id": pd.Series(
                np.concatenate(user_col) if user_col else np.array([], dtype=object), dtype=str
            ),
            "item_id": pd.Series(item_ids[chosen_all.astype(int)], dtype=str),
            "timestamp": (np.concatenate(time_col) if time_col else np.array([])).astype("int64"),
            "rating": (np.concatenate(rating_col) if rating_col else np.array([])).astype(
                "float64"
            ),
        }
    )


def _join(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _roman(n: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, numeral in numerals:
        while n >= value:
            out += numeral
            n -= value
    return out
