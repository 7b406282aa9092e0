"""Held-out cases that every subject answers: the same users, items and labels for all.

For each sampled user, two disjoint sets of rated interactions are withheld from the
training data: a few liked ones (rating ≥ ``liked``), the positives of taste discrimination
and of ranking; and a uniform sample of the rest, whatever their rating, which are the real
ratings that rating fidelity compares against (chosen without looking at the rating, so
the real distribution is not skewed towards liked films). On implicit data (no ratings)
any interaction can be a positive and nothing is withheld for rating fidelity. Negatives
are items the user never touched, drawn two ways, for discrimination and for ranking alike:

* ``uniform``: from the whole catalogue, as Agent4Rec did. Liked items are far more
  popular than random ones, so popularity alone tells them apart.
* ``popularity``: each positive gets negatives of about its own popularity (drawn from a
  window of unseen items centred on it in training count), which takes that shortcut away.

Each positive gets ``max(multiples)`` negatives of each kind in a fixed order, and the
list for multiple m uses the first m, so the lists for m = 1, 2, 3, 9 are nested and
share their positives. Cases can also come from files (``simulator.fidelity.case_files``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.dataset import Dataset, rating_scale
from simulator.errors import RecworldError
from simulator.ratings import RatingScale

NEGATIVE_KINDS = ("uniform", "popularity")
RANKING_CANDIDATES = 10
POPULARITY_POOL = 30
"""A popularity-matched negative comes from the 30 unseen items centred on the positive's
rank in training count (centred, so head items get negatives above them as well)."""
DISCRIMINATION_COLUMNS = ("list", "user_id", "item_id", "label", "kind", "m")
RANKING_COLUMNS = ("list", "user_id", "item_id", "label", "kind", "position")
RATING_COLUMNS = ("user_id", "item_id", "rating")


@dataclass(frozen=True)
class CaseConfig:
    """How many users and items the suite holds out.

    Attributes:
        users: Held-out users (sampled among those with enough liked history).
        positives: Liked items withheld per user for discrimination and ranking.
        rated: Further rated items withheld per user, drawn regardless of their rating,
            for rating fidelity.
        multiples: Negatives per positive in the discrimination cases.
        liked: Lowest rating that counts as liked; by default three quarters up the
            dataset's scale (4 of 1-5 stars, 4 of 0.5-5).
        min_history: Fewest interactions a user keeps in training.
        seed: Seeds every draw.
    """

    users: int = 100
    positives: int = 5
    rated: int = 10
    multiples: tuple[int, ...] = (1, 2, 3, 9)
    liked: float | None = None
    min_history: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.users < 1 or self.positives < 1:
            raise RecworldError(
                f"fidelity needs at least one user and one positive; got users={self.users}, "
                f"positives={self.positives}"
            )
        if self.rated < 1:
            raise RecworldError(f"rated must be at least 1, got {self.rated}")
        if not self.multiples or min(self.multiples) < 1:
            raise RecworldError(f"multiples must be positive integers, got {self.multiples}")

    def split(self) -> dict[str, object]:
        """What decides the training part (not the multiples), as calibration records it."""
        fields = ("users", "positives", "rated", "liked", "min_history", "seed")
        return {name: getattr(self, name) for name in fields}


@dataclass
class Cases:
    """The training data and the withheld cases.

    Attributes:
        train: The dataset without the withheld interactions.
        users: The held-out users, in order.
        discrimination: Rows of (list, user_id, item_id, label, kind, m): one list per
            user, kind of negatives and multiple m, its positives (label True) and
            negatives in order; ``list`` numbers the lists.
        ranking: Rows of (list, user_id, item_id, label, kind, position): per user and
            kind of negatives, one withheld liked item among unseen ones, shuffled.
        rating: Rows of (user_id, item_id, rating): the withheld real ratings (none on
            implicit data).
        popularity: Training interaction count per item id.
        scale: The training data's rating levels; None when it is implicit.
        source: "drawn", or the folder the cases were read from.
        dropped: Held-out interactions the given data held, left out of ``train``.
    """

    train: Dataset
    users: list[str]
    discrimination: pd.DataFrame
    ranking: pd.DataFrame
    rating: pd.DataFrame
    popularity: pd.Series
    config: CaseConfig = field(default_factory=CaseConfig)
    scale: RatingScale | None = None
    source: str = "drawn"
    dropped: int = 0

    @property
    def cases(self) -> list[tuple[str, int]]:
        """The (kind of negatives, m) pairs of the discrimination lists, in order."""
        d = self.discrimination[["kind", "m"]].drop_duplicates()
        return [(str(k), int(m)) for k, m in d.itertuples(index=False)]

    def case_mask(self, kind: str, multiple: int) -> np.ndarray:
        """Which discrimination rows form the case for ``kind`` negatives at ``multiple``."""
        d = self.discrimination
        return ((d["kind"] == kind) & (d["m"] == multiple)).to_numpy()

    def discrimination_case(self, kind: str, multiple: int) -> pd.DataFrame:
        """The lists of ``kind`` negatives at ``multiple``."""
        return self.discrimination[self.case_mask(kind, multiple)]


def without_pairs(dataset: Dataset, pairs: pd.DataFrame) -> tuple[Dataset, int]:
    """``dataset`` without every interaction of the given (user_id, item_id) pairs, and how
    many interactions that took out."""
    held = pd.MultiIndex.from_frame(pairs[["user_id", "item_id"]].astype(str))
    keys = pd.MultiIndex.from_frame(dataset.interactions[["user_id", "item_id"]].astype(str))
    out = keys.isin(held)
    train = Dataset(
        dataset.name,
        dataset.users,
        dataset.items,
        dataset.interactions[~out].reset_index(drop=True),
        social=dataset.social,
        source=dataset.source,
        meta=dataset.meta,
    )
    return train, int(out.sum())


def build_cases(dataset: Dataset, config: CaseConfig | None = None) -> Cases:
    """Withhold cases from ``dataset`` and return them with the training data.

    Each kind of draw has its own seeded stream, so changing the multiples does not change
    the ranking or rating cases.
    """
    config = config or CaseConfig()
    scale = rating_scale(dataset)
    liked = (config.liked if config.liked is not None else scale.liked) if scale else None
    touched_rows = _catalogue_interactions(dataset)
    inter = touched_rows if scale is None else touched_rows[touched_rows["rating"].notna()]
    inter = inter.reset_index(drop=True)
    rated = config.rated if scale else 0
    holdout_rng, negative_rng, ranking_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3)
    )
    users = _eligible_users(inter, config, liked, rated, holdout_rng)
    positive_rows: list[int] = []
    rated_rows: list[int] = []
    positives: dict[str, list[str]] = {}
    for user, rows in inter[inter["user_id"].isin(users)].groupby("user_id", sort=True):
        good = rows.index if liked is None else rows.index[rows["rating"] >= liked]
        chosen = holdout_rng.choice(good.to_numpy(), size=config.positives, replace=False)
        others = rows.index.difference(chosen).to_numpy()
        sample = holdout_rng.choice(others, size=rated, replace=False)
        positive_rows.extend(chosen.tolist())
        rated_rows.extend(sample.tolist())
        positives[str(user)] = inter.loc[chosen, "item_id"].tolist()
    held = inter.loc[sorted(positive_rows + rated_rows)]
    train, _ = without_pairs(dataset, held[["user_id", "item_id"]])
    item_ids = np.asarray([str(i) for i in dataset.item_ids], dtype=object)
    counts = (
        train.interactions["item_id"].astype(str).value_counts().reindex(item_ids, fill_value=0)
    )
    touched = touched_rows.groupby("user_id")["item_id"].agg(set)
    unseen = {u: np.flatnonzero(~np.isin(item_ids, list(touched[u]))) for u in users}
    draw = _NegativeDraw(counts, unseen, positives)
    discrimination = _discrimination(users, draw, config.multiples, negative_rng)
    ranking = _ranking(users, draw, ranking_rng)
    rating = inter.loc[sorted(rated_rows), ["user_id", "item_id", "rating"]]
    return Cases(
        train=train,
        users=users,
        discrimination=discrimination,
        ranking=ranking,
        rating=rating.reset_index(drop=True),
        popularity=counts,
        config=config,
        scale=scale,
    )


def _catalogue_interactions(dataset: Dataset) -> pd.DataFrame:
    """Every interaction with a catalogue item (the last per pair), ids as strings."""
    inter = dataset.interactions.astype({"user_id": str, "item_id": str})
    catalogue = {str(i) for i in dataset.item_ids}
    inter = inter[inter["item_id"].isin(catalogue)]
    return inter.drop_duplicates(["user_id", "item_id"], keep="last").reset_index(drop=True)


def _eligible_users(
    inter: pd.DataFrame,
    config: CaseConfig,
    liked: float | None,
    rated: int,
    rng: np.random.Generator,
) -> list[str]:
    """Users with enough positives and history; ``liked`` None means implicit data."""
    good = inter["rating"] >= liked if liked is not None else pd.Series(True, inter.index)
    per_user = (
        inter.assign(good=good).groupby("user_id").agg(n=("item_id", "size"), liked=("good", "sum"))
    )
    ok = per_user[
        (per_user["liked"] >= config.positives)
        & (per_user["n"] >= config.min_history + config.positives + rated)
    ]
    if ok.empty:
        what = "interactions" if liked is None else f"items rated {liked:g} or more"
        raise RecworldError(
            f"no user has {config.positives} {what} and {rated + config.min_history} more "
            "to keep; lower --positives, --rated or --min-history"
        )
    ids = np.sort(ok.index.astype(str).to_numpy())
    n = min(config.users, len(ids))
    return sorted(rng.choice(ids, size=n, replace=False).tolist())


class _NegativeDraw:
    """Draws a user's negatives uniformly or matched to a positive's popularity."""

    def __init__(
        self, counts: pd.Series, unseen: dict[str, np.ndarray], positives: dict[str, list[str]]
    ) -> None:
        self.item_ids = counts.index.to_numpy()
        self.counts = counts.to_numpy(dtype=float)
        self.unseen = unseen
        self.positives = positives

    def check(self, user: str, need: int) -> None:
        if len(self.unseen[user]) < need:
            raise RecworldError(
                f"user {user} has only {len(self.unseen[user])} unseen items for {need} "
                "negatives; lower --multiples or --positives"
            )

    def uniform(self, user: str, n: int, rng: np.random.Generator) -> np.ndarray:
        self.check(user, n)
        return self.item_ids[rng.choice(self.unseen[user], size=n, replace=False)]

    def matched(
        self, user: str, item: str, n: int, rng: np.random.Generator, taken: np.ndarray
    ) -> np.ndarray:
        """``n`` unseen items from the window centred on ``item`` by training count.

        ``taken`` (a mask over the user's unseen items) keeps one user's negatives distinct.
        """
        candidates = self.unseen[user][~taken]
        order = np.argsort(self.counts[candidates], kind="stable")
        ranked = candidates[order]
        target = self.counts[np.flatnonzero(self.item_ids == item)[0]]
        centre = int(np.searchsorted(self.counts[ranked], target))
        width = max(POPULARITY_POOL, n)
        start = min(max(0, centre - width // 2), max(0, len(ranked) - width))
        chosen = rng.choice(ranked[start : start + width], size=n, replace=False)
        taken[np.isin(self.unseen[user], chosen)] = True
        return self.item_ids[chosen]


def _discrimination(
    users: list[str], draw: _NegativeDraw, multiples: tuple[int, ...], rng: np.random.Generator
) -> pd.DataFrame:
    """One list per kind, multiple and user: the positives, then the first m negatives
    of each positive (the draws are nested, so lists for a smaller m are sub-lists)."""
    per_positive = max(multiples)
    negatives: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for user in users:
        positives = draw.positives[user]
        need = per_positive * len(positives)
        draw.check(user, need * 2)
        negatives[("uniform", user)] = [
            (item, j // len(positives)) for j, item in enumerate(draw.uniform(user, need, rng))
        ]
        taken = np.zeros(len(draw.unseen[user]), bool)
        negatives[("popularity", user)] = [
            (item, slot)
            for positive in positives
            for slot, item in enumerate(draw.matched(user, positive, per_positive, rng, taken))
        ]
    rows: list[tuple[int, str, str, bool, str, int]] = []
    for kind in NEGATIVE_KINDS:
        for m in multiples:
            for user in users:
                n = len(rows)
                rows.extend((n, user, item, True, kind, m) for item in draw.positives[user])
                rows.extend(
                    (n, user, item, False, kind, m)
                    for item, slot in negatives[(kind, user)]
                    if slot < m
                )
    frame = pd.DataFrame(rows, columns=list(DISCRIMINATION_COLUMNS))
    frame["list"] = pd.factorize(frame["list"])[0]
    return frame


def _ranking(users: list[str], draw: _NegativeDraw, rng: np.random.Generator) -> pd.DataFrame:
    """Per user and kind: the first withheld liked item among nine negatives, shuffled."""
    rows: list[tuple[int, str, str, bool, str, int]] = []
    n = RANKING_CANDIDATES - 1
    lists = 0
    for user in users:
        positive = draw.positives[user][0]
        for kind in NEGATIVE_KINDS:
            if kind == "uniform":
                negatives = draw.uniform(user, n, rng)
            else:
                taken = np.zeros(len(draw.unseen[user]), bool)
                negatives = draw.matched(user, positive, n, rng, taken)
            items = [positive, *negatives.tolist()]
            for position, i in enumerate(rng.permutation(RANKING_CANDIDATES), 1):
                rows.append((lists, user, items[i], i == 0, kind, position))
            lists += 1
    return pd.DataFrame(rows, columns=list(RANKING_COLUMNS))
