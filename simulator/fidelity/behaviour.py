"""SUBER-style behavioural checks: constructed personas that should behave in opposite ways.

Each check is a set of persona pairs (A, B) with the same probe items and a direction:
A should score the probes higher than B. Personas are users added to the training data
with a made-up rated history, so every subject (agent or floor) meets them the way it
meets real users.

* ``genre-love``: A rated 15 films of a genre 5 and other films 2; B the reverse.
  Probes: other films of the genre, rated.
* ``sequel``: A rated the original of a franchise 5; B rated it 1 (same fillers).
  Probe: the sequel, rated.
* ``generous-harsh``: A rated ten popular films 5, B the same ten 1 (five pairs). Probes: other
  films, rated.
* ``mainstream-niche``: A loved ten blockbusters, B ten little-seen films (five pairs). Probes: five
  popular and five little-seen films, judged; the gap is A's preference for the popular
  ones minus B's.

Histories are written in stars 1-5 and put on the dataset's own scale (1 and 5 are its
ends). On implicit data only ``mainstream-niche`` is built, with unrated histories: the
others need ratings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.dataset import Dataset, rating_scale
from simulator.ratings import STARS, RatingScale, nearest_level

PERSONA_PREFIX = "persona:"
GENRE_CHECKS = 4
SEQUEL_PAIRS = 12
PERSONA_REPEATS = 5
"""Pairs of each persona-only check, each with other films drawn."""
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_SEQUEL = re.compile(r"^(?P<base>.+?)(?::|\s+(?:2|3|4|II|III|IV|Part\b))", re.IGNORECASE)


@dataclass
class PersonaPair:
    check: str
    label: str
    a: str
    b: str
    probes: list[str]
    kind: str = "rate"
    """``rate``: expected rating of the probes; ``judge``: popular-minus-niche yes share."""
    popular: frozenset[str] = frozenset()


@dataclass
class Personas:
    pairs: list[PersonaPair]
    users: pd.DataFrame
    interactions: pd.DataFrame

    def add_to(self, train: Dataset) -> Dataset:
        """The training data with the personas' users and made-up histories added."""
        return Dataset(
            train.name,
            pd.concat([train.users, self.users], ignore_index=True),
            train.items,
            pd.concat([train.interactions, self.interactions], ignore_index=True),
            social=train.social,
            source=train.source,
            meta=train.meta,
        )


def build_personas(train: Dataset, seed: int = 0) -> Personas:
    """Persona pairs for every check the catalogue and ratings support.

    Sequels need titles; every check but ``mainstream-niche`` needs ratings.
    """
    rng = np.random.default_rng(seed)
    scale = rating_scale(train)
    counts = train.interactions["item_id"].astype(str).value_counts()
    items = train.items.assign(item_id=train.items["item_id"].astype(str))
    popularity = items["item_id"].map(counts).fillna(0).to_numpy()
    by_pop = items["item_id"].to_numpy()[np.argsort(-popularity, kind="stable")]
    builder = _Builder(train, by_pop, scale)
    for genre in _top_genres(items, GENRE_CHECKS) if scale else []:
        in_genre = set(items["item_id"][items["genres"].map(lambda g, x=genre: x in g)])
        pool = [i for i in by_pop[:600] if i in in_genre]
        other = [i for i in by_pop[:600] if i not in in_genre]
        if len(pool) < 23 or len(other) < 5:
            continue
        chosen = rng.permutation(pool[:60])[:23]
        history, probes = list(chosen[:15]), list(chosen[15:])
        fillers = list(rng.permutation(other[:100])[:5])
        builder.pair(
            "genre-love",
            genre,
            [(i, 5.0) for i in history] + [(i, 2.0) for i in fillers],
            [(i, 1.0) for i in history] + [(i, 5.0) for i in fillers],
            probes,
        )
    top = list(by_pop[:200])
    for original, sequel in sequel_pairs(items)[:SEQUEL_PAIRS] if scale else []:
        fillers = [i for i in rng.permutation(top)[:8] if i not in (original, sequel)][:5]
        builder.pair(
            "sequel",
            f"{_title(items, original)} → {_title(items, sequel)}",
            [(original, 5.0)] + [(i, 3.0) for i in fillers],
            [(original, 1.0)] + [(i, 3.0) for i in fillers],
            [sequel],
        )
    for _ in range(PERSONA_REPEATS if scale else 0):
        shuffled = list(rng.permutation(by_pop[:100]))
        history, probes = shuffled[:10], shuffled[10:20]
        builder.pair(
            "generous-harsh",
            "all 5 vs all 1",
            [(i, 5.0) for i in history],
            [(i, 1.0) for i in history],
            probes,
        )
    seen_counts = popularity[np.argsort(-popularity, kind="stable")]
    little_seen = [i for i, c in zip(by_pop, seen_counts, strict=True) if 3 <= c <= 15]
    if len(little_seen) >= 15:
        for _ in range(PERSONA_REPEATS):
            niche = list(rng.permutation(little_seen)[:15])
            blockbusters = list(rng.permutation(by_pop[:30])[:15])
            builder.pair(
                "mainstream-niche",
                "blockbusters vs little-seen",
                [(i, 5.0) for i in blockbusters[:10]],
                [(i, 5.0) for i in niche[:10]],
                blockbusters[10:] + niche[10:],
                kind="judge",
                popular=frozenset(blockbusters[10:]),
            )
    return builder.personas()


def sequel_pairs(items: pd.DataFrame) -> list[tuple[str, str]]:
    """(original, sequel) item ids whose titles say so: "Die Hard" and "Die Hard 2".

    Titles are compared without their "(1988)" year and with a trailing ", The" moved
    to the front; the original must be the earlier film when both have years.
    """
    bases: dict[str, tuple[str, int | None]] = {}
    titles = []
    for item_id, title in zip(
        items["item_id"].astype(str), items["title"].astype(str), strict=True
    ):
        name, year = _normalise(title)
        titles.append((item_id, name, year))
        bases.setdefault(name.casefold(), (item_id, year))
    pairs = []
    for item_id, name, year in titles:
        match = _SEQUEL.match(name)
        if not match:
            continue
        original = bases.get(match["base"].strip().casefold())
        if original is None or original[0] == item_id:
            continue
        if original[1] is not None and year is not None and original[1] >= year:
            continue
        pairs.append((original[0], item_id))
    return sorted(set(pairs))


def _normalise(title: str) -> tuple[str, int | None]:
    match = _YEAR.search(title)
    year = int(match.group(1)) if match else None
    name = _YEAR.sub("", title).strip()
    for article in ("The", "A", "An"):
        if name.endswith(f", {article}"):
            name = f"{article} {name[: -len(article) - 2]}"
    return name, year


def _title(items: pd.DataFrame, item_id: str) -> str:
    return str(items.loc[items["item_id"] == item_id, "title"].iloc[0])


def _top_genres(items: pd.DataFrame, n: int) -> list[str]:
    genres = items["genres"].explode().dropna()
    genres = genres[~genres.isin(["unknown", "(no genres listed)"])]
    return genres.value_counts().index[:n].tolist()


class _Builder:
    def __init__(self, train: Dataset, by_pop: np.ndarray, scale: RatingScale | None) -> None:
        self.train = train
        self.scale = scale
        self.pairs: list[PersonaPair] = []
        self.rows: list[tuple[str, str, float, float]] = []
        timestamps = train.interactions["timestamp"]
        self.clock = float(timestamps.max()) + 1 if len(timestamps) else 0.0

    def pair(self, check, label, history_a, history_b, probes, *, kind="rate", popular=()):
        n = sum(p.check == check for p in self.pairs)
        a, b = f"{PERSONA_PREFIX}{check}:{n}:a", f"{PERSONA_PREFIX}{check}:{n}:b"
        for user, history in ((a, history_a), (b, history_b)):
            for offset, (item, stars) in enumerate(history):
                self.rows.append((user, str(item), self._on_scale(stars), self.clock + offset))
        self.pairs.append(
            PersonaPair(check, label, a, b, [str(p) for p in probes], kind, frozenset(popular))
        )

    def _on_scale(self, stars: float) -> float:
        if self.scale is None:
            return float("nan")
        low, high = self.scale.low, self.scale.high
        point = low + (stars - 1) * (high - low) / (STARS - 1)
        return float(nearest_level(point, self.scale.levels))

    def personas(self) -> Personas:
        inter = pd.DataFrame(self.rows, columns=["user_id", "item_id", "rating", "timestamp"])
        ids = [u for p in self.pairs for u in (p.a, p.b)]
        users = pd.DataFrame({"user_id": ids})
        return Personas(self.pairs, users, inter)


def score_pairs(subject, personas: Personas, levels: np.ndarray | None = None) -> pd.DataFrame:
    """One row per persona pair: A's score, B's score and whether A > B as expected.

    ``levels`` is the rating scale that rating probes are answered on (1-5 stars if None).
    """
    levels = np.arange(1.0, STARS + 1) if levels is None else np.asarray(levels, float)
    answers = {
        "rate": lambda pairs: subject.rate(pairs, levels) @ levels,  # expected rating
        "judge": subject.judge,
    }
    values: dict[tuple[int, str], list[tuple[str, float]]] = {}
    for kind, answer in answers.items():
        rows = [
            (p, user, item)
            for p in personas.pairs
            if p.kind == kind
            for user in (p.a, p.b)
            for item in p.probes
        ]
        if not rows:
            continue
        pairs = pd.DataFrame([(u, i) for _, u, i in rows], columns=["user_id", "item_id"])
        for (p, user, item), value in zip(rows, answer(pairs), strict=True):
            values.setdefault((id(p), user), []).append((item, float(value)))
    out = []
    for p in personas.pairs:
        a, b = (_pair_score(p, values.get((id(p), u), [])) for u in (p.a, p.b))
        out.append(
            {
                "check": p.check,
                "case": p.label,
                "a": a,
                "b": b,
                "gap": a - b,
                "passed": bool(np.isfinite(a - b) and a > b),
            }
        )
    return pd.DataFrame(out)


def _pair_score(pair: PersonaPair, values: list[tuple[str, float]]) -> float:
    if not values:
        return float("nan")
    if pair.kind == "judge":
        popular = [v for i, v in values if i in pair.popular]
        niche = [v for i, v in values if i not in pair.popular]
        return float(np.nanmean(popular) - np.nanmean(niche))
    return float(np.nanmean([v for _, v in values]))
