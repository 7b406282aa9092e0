"""Synthetic-to-real transfer: what is a simulated interaction log worth?

The users of the suite's training part visit pages of items they have not seen, the utility
policy (the model runs use) decides what they watch and how they rate it, and recommenders
trained on that log alone are scored on the real held-out liked items, among the suite's
ranking candidates. The same recommenders trained on the real training log give the bar,
and a log with the same exposures whose picks follow popularity alone gives the floor: a
simulated log is worth something only where it beats that floor and nears the bar.

Exposures follow calibration's: pages of unseen items drawn ∝ training interaction count
+ 1 (``simulator.stats.draw_unseen``), fresh for every visit. A held-out user's pages never
show an item of their cases (withheld, negative or rated), so a recommender trained on
the synthetic log knows of them only what the simulated user did elsewhere. By default
every user visits until they have watched as many items as they have interactions in the
training log, so both logs have the same size per user. That is costly: the policy watches
something on fewer than one page in ten, so MovieLens-100K's 98,500 watches take about
1.5M pages (minutes on a CPU); ``users`` simulates a sample instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from agents.traits import traits_from_history
from agents.utility import UtilityModel, UtilityParams
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.fidelity import measures
from simulator.fidelity.cases import Cases
from simulator.recommenders import make_recommender
from simulator.stats import draw_unseen

RECOMMENDERS = ("item-knn", "als", "sasrec")
LOGS = ("real", "utility", "popularity")
SASREC_SMALL: dict[str, Any] = {"hidden": 32, "blocks": 1, "epochs": 5, "batch_size": 256}
"""SASRec small enough for a CPU: one block, 32 wide, five epochs."""
MAX_ROUNDS = 60
"""Rounds of visits at most; users still short of their target after them stay short."""
_Watches = tuple[pd.DataFrame, np.ndarray, np.ndarray]
"""Watches (user, item, order, rating), the items of each one's page and its filled slots."""
FIRST_GUESS = 0.5
"""Watches per visit assumed for the first round (later rounds use the measured rate)."""


@dataclass(frozen=True)
class TransferConfig:
    """How the synthetic logs are simulated and which recommenders learn from them.

    Attributes:
        recommenders: Built-in recommender names trained on every log.
        recommender_params: Parameters per recommender (SASRec gets small CPU settings).
        visits: Visits per simulated user; None: until each user has watched as many items
            as they have interactions in the training log.
        users: Simulate this many users of the training data (the held-out users always
            among them, the rest a seeded sample); None: all.
        slate_size: Items per page.
        pages: Pages per visit at most (the policy decides whether to go on).
        params: The utility policy's parameters; defaults to ``UtilityParams()``.
        seed: Seeds the sample, the exposures, the decisions and the recommenders.
    """

    recommenders: tuple[str, ...] = RECOMMENDERS
    recommender_params: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"sasrec": dict(SASREC_SMALL)}
    )
    visits: int | None = None
    users: int | None = None
    slate_size: int = 10
    pages: int = 3
    params: UtilityParams | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("visits", "users", "slate_size", "pages"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RecworldError(f"transfer: {name} must be at least 1, got {value}")

    def describe(self) -> dict[str, Any]:
        """The settings as plain values, for ``fidelity.json``."""
        return {
            "recommenders": list(self.recommenders),
            "recommender_params": self.recommender_params,
            "visits": self.visits,
            "users": self.users,
            "slate_size": self.slate_size,
            "pages": self.pages,
            "params": "default" if self.params is None else self.params.model_dump(mode="json"),
            "seed": self.seed,
        }


@dataclass
class SyntheticLogs:
    """The two simulated logs (``user_id, item_id, timestamp, rating``) and their sizes.

    Attributes:
        utility: Watches and ratings chosen by the utility policy.
        popularity: On every page with a utility watch, a pick drawn ∝ training count + 1
            among the same page's items that user has not picked yet (no rating).
        pages: Pages shown in all.
        visits: Visits in all.
        seconds: Time taken to simulate.
    """

    utility: pd.DataFrame
    popularity: pd.DataFrame
    pages: int
    visits: int
    seconds: float

    def describe(self) -> dict[str, Any]:
        """Sizes and time, for ``fidelity.json``."""
        return {
            "watches": len(self.utility),
            "popularity_watches": len(self.popularity),
            "pages": self.pages,
            "visits": self.visits,
            "seconds": round(self.seconds, 2),
        }


def simulate_logs(cases: Cases, config: TransferConfig | None = None) -> SyntheticLogs:
    """Simulate the training data's users on pages of unseen items (see the module docstring).

    Visits run in rounds: each user still short of their target makes as many visits as
    the last round's watches per visit say they need, and the first watches up to the
    target are kept, so the log matches the real one's size per user without a Python loop
    per visit. Every draw comes from the seed, so the same cases and config give the same
    logs.
    """
    config = config or TransferConfig()
    started = time.perf_counter()
    sim = _Simulation(cases, config)
    watches, page_items, page_valid = sim.run()
    utility = _as_log(sim, watches, watches["rating"].to_numpy())
    pick_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
    picks = watches.assign(item=_popular_picks(sim, watches, page_items, page_valid, pick_rng))
    picks = picks[picks["item"] >= 0]
    popularity = _as_log(sim, picks, np.full(len(picks), np.nan))
    return SyntheticLogs(
        utility, popularity, sim.shown_pages, sim.shown_visits, time.perf_counter() - started
    )


def transfer_table(
    cases: Cases,
    config: TransferConfig | None = None,
    *,
    logs: SyntheticLogs | None = None,
    tiebreak: np.ndarray | None = None,
) -> pd.DataFrame:
    """NDCG@10 of the real held-out liked items under recommenders trained on each log.

    Args:
        cases: The suite's cases; their ranking lists are the candidates.
        config: The simulation and the recommenders.
        logs: Synthetic logs already simulated from ``cases`` and ``config``.
        tiebreak: One seeded key per ranking row, as the suite draws it (so the real-log
            item-kNN row repeats the ranking table's item-knn floor); drawn when omitted.

    Returns:
        One row per recommender, log and kind of negatives: ``ndcg@10``, ``ratio`` (to the
        same recommender trained on the real log), ``mean_rank``, ``n``, the log's
        ``watches`` and the ``seconds`` to fit and score.
    """
    config = config or TransferConfig()
    logs = logs or simulate_logs(cases, config)
    if tiebreak is None:
        stream = np.random.SeedSequence([cases.config.seed, 1]).spawn(3)[1]
        tiebreak = np.random.default_rng(stream).random(len(cases.ranking))
    lists = _ranking_lists(cases, tiebreak)
    frames = {"real": cases.train.interactions, "utility": logs.utility}
    frames["popularity"] = logs.popularity
    rows = []
    for log, frame in frames.items():
        data = _with_interactions(cases.train, frame)
        for name in config.recommenders:
            started = time.perf_counter()
            recommender = make_recommender(
                name, config.recommender_params.get(name), seed=config.seed
            )
            recommender.fit(data)
            ranks = _ranks(recommender, lists)
            seconds = time.perf_counter() - started
            for kind, ranked in ranks.items():
                rows.append(
                    {
                        "recommender": name,
                        "log": log,
                        "negatives": kind,
                        "ndcg@10": float(measures.ndcg_single(ranked, 10).mean()),
                        "mean_rank": float(ranked.mean()),
                        "n": len(ranked),
                        "watches": len(frame),
                        "seconds": round(seconds, 2),
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    real = table[table["log"] == "real"].set_index(["recommender", "negatives"])["ndcg@10"]
    keys = pd.MultiIndex.from_frame(table[["recommender", "negatives"]])
    table.insert(4, "ratio", table["ndcg@10"].to_numpy() / real.reindex(keys).to_numpy())
    return table


# -- the simulation ----------------------------------------------------------------------


KEPT_PREFERENCES = 1 << 26
"""Most (user, item) logits the simulation keeps (512 MB of float64): ml-1m's 22M fit."""


class _Preferences:
    """The taste logit of each (simulated user, catalogue item) pair, computed once.

    A simulation shows each user hundreds of pages drawn from the same popular items, so
    most pairs come back many times: on ml-100k, 15 million page slots hold about 1.6
    million distinct pairs. Each is scored the first time it is shown and kept.
    """

    def __init__(self, model: UtilityModel, user_rows: np.ndarray, item_rows: np.ndarray):
        self.model = model
        self.user_rows = user_rows
        self.item_rows = item_rows
        self.values = np.full((len(user_rows), len(item_rows)), np.nan)

    def of(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits of n simulated users (indices) × their k catalogue items (indices)."""
        found = self.values[users[:, None], items]
        rows, slots = np.nonzero(np.isnan(found))
        if len(rows):
            pairs = np.unique(np.column_stack([users[rows], items[rows, slots]]), axis=0)
            user, item = pairs[:, 0], pairs[:, 1]
            logits = self.model.preference(self.user_rows[user], self.item_rows[item][:, None])
            self.values[user, item] = logits[:, 0]
            found[rows, slots] = self.values[users[rows], items[rows, slots]]
        return found


class _Simulation:
    """The catalogue, users, exclusions and streams of one simulation, and its rounds."""

    def __init__(self, cases: Cases, config: TransferConfig) -> None:
        self.config = config
        train = cases.train
        self.model = UtilityModel.from_dataset(train, config.params)
        params = self.model.params
        self.item_ids = train.items["item_id"].astype(str).to_numpy(dtype=object)
        catalogue = pd.Index(self.item_ids)
        self.item_rows = np.array([self.model.item_index[i] for i in self.item_ids], np.int64)
        inter = train.interactions.astype({"user_id": str, "item_id": str})
        inter = inter[catalogue.get_indexer(inter["item_id"]) >= 0]
        inter = inter.drop_duplicates(["user_id", "item_id"])
        counts = np.bincount(catalogue.get_indexer(inter["item_id"]), minlength=len(catalogue))
        self.weights = counts + 1.0

        sample_rng, self.exposure_rng, self.decision_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence([config.seed, 5]).spawn(3)
        )
        self.user_ids = _simulated_users(train, cases.users, config.users, sample_rng)
        users = pd.Index(self.user_ids)
        self.user_rows = np.array([self.model.user_index[u] for u in self.user_ids], np.int64)
        touched = pd.concat(
            [
                inter[["user_id", "item_id"]],
                *(
                    frame[["user_id", "item_id"]].astype(str)
                    for frame in (cases.discrimination, cases.ranking, cases.rating)
                    if len(frame)
                ),
            ]
        )
        row = users.get_indexer(touched["user_id"])
        col = catalogue.get_indexer(touched["item_id"])
        ok = (row >= 0) & (col >= 0)
        self.seen = sparse.csr_matrix(
            (np.ones(int(ok.sum()), bool), (row[ok], col[ok])), shape=(len(users), len(catalogue))
        )
        self.seen.sum_duplicates()
        in_train = users.get_indexer(inter["user_id"])
        self.target = np.bincount(in_train[in_train >= 0], minlength=len(users))

        cells = len(self.user_rows) * len(self.item_rows)
        self.preferences = (
            _Preferences(self.model, self.user_rows, self.item_rows)
            if cells <= KEPT_PREFERENCES
            else None  # too many pairs to keep: every page is scored afresh
        )

        traits = traits_from_history(train).set_index("user_id").reindex(self.user_ids)
        levels = traits[["conformity", "diversity"]].fillna("medium")
        self.conformity = levels["conformity"].map(params.multiplier).to_numpy(float)
        self.diversity = levels["diversity"].map(params.multiplier).to_numpy(float)
        self.shown_pages = 0
        self.shown_visits = 0
        self._clock = 0  # orders every page shown, so a user's watches keep their order

    def run(self) -> _Watches:
        """Every round's watches (user, item, order, rating) and the page each came from."""
        c = self.config
        fixed = c.visits is not None
        remaining = self.target.copy()
        rate = FIRST_GUESS
        found: list[_Watches] = []
        for _ in range(1 if fixed else MAX_ROUNDS):
            unseen = self.seen.shape[1] - np.asarray(self.seen.sum(axis=1)).ravel()
            if fixed:
                visits = np.where(unseen > 0, c.visits, 0)
            else:
                visits = np.where((remaining > 0) & (unseen > 0), np.ceil(remaining / rate), 0)
            visits = visits.astype(np.int64)
            if not visits.sum():
                break
            watches, items, valid = self._round(visits, unseen)
            rate = max(len(watches) / visits.sum(), 0.01)
            first = ~watches.duplicated(["user", "item"]).to_numpy()  # shown in two visits
            watches, items, valid = watches[first], items[first], valid[first]
            users = watches["user"].to_numpy()
            if not fixed:
                keep = watches.groupby("user").cumcount().to_numpy() < remaining[users]
                watches, items, valid = watches[keep], items[keep], valid[keep]
                users = users[keep]
                remaining -= np.bincount(users, minlength=len(remaining))
            self.seen = self.seen + sparse.csr_matrix(
                (np.ones(len(users), bool), (users, watches["item"].to_numpy())),
                shape=self.seen.shape,
            )
            found.append((watches, items, valid))
        return _joined(found, min(c.slate_size, self.seen.shape[1]))

    def _round(self, visits: np.ndarray, unseen: np.ndarray) -> _Watches:
        """``visits[u]`` visits by each user u, each on fresh pages, decided page by page."""
        c = self.config
        n_items = self.seen.shape[1]
        slate = min(c.slate_size, n_items)
        shown = min(c.pages * slate, n_items)
        who = np.repeat(np.arange(len(visits)), visits)
        drawn = draw_unseen(self.weights, self.seen, who, shown, self.exposure_rng)
        filled = np.minimum(unseen[who], shown)  # the rest of a short pool is seen items
        browsing = np.ones(len(who), bool)
        found: list[_Watches] = []
        for page in range(-(-shown // slate)):
            slots = np.arange(page * slate, min((page + 1) * slate, shown))
            valid = slots[None, :] < filled[:, None]
            live = np.flatnonzero(browsing & valid[:, 0])
            browsing[:] = False
            if not len(live):
                break
            items = drawn[live][:, slots]
            decisions = self.model.decide_pages(
                self.user_rows[who[live]],
                self.item_rows[items],
                np.full(len(live), page + 1.0),
                self.conformity[who[live]],
                self.diversity[who[live]],
                self.decision_rng.random((len(live), 3)),
                None if valid[live].all() else valid[live],
                preference=self.preferences.of(who[live], items) if self.preferences else None,
            )
            self.shown_pages += len(live)
            browsing[live] = decisions.next_page
            hit = np.flatnonzero(decisions.choice > 0)
            visit = live[hit]
            found.append(
                (
                    pd.DataFrame(
                        {
                            "user": who[visit],
                            "item": items[hit, decisions.choice[hit] - 1],
                            "order": self._clock + visit * c.pages + page,
                            "rating": decisions.rating[hit],
                        }
                    ),
                    _pad(items[hit], slate),
                    _pad(valid[live][hit], slate),
                )
            )
        self.shown_visits += len(who)
        self._clock += len(who) * c.pages
        return _joined(found, slate)


def _popular_picks(
    sim: _Simulation,
    watches: pd.DataFrame,
    items: np.ndarray,
    valid: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One item per watched page, drawn ∝ training count + 1 among the page's items that
    the user has not picked on an earlier page (-1 where none is left).

    A pick that repeats an earlier page's is drawn again without the user's earlier picks,
    a few times over, so the log keeps nearly every page's watch.
    """
    n_items = len(sim.item_ids)
    users = watches["user"].to_numpy()
    codes = users[:, None] * n_items + items
    picks = np.full(len(watches), -1, np.int64)
    pending = np.arange(len(watches))
    for _ in range(MAX_ROUNDS):
        taken = users[picks >= 0] * n_items + picks[picks >= 0]
        open_slots = valid[pending] & ~np.isin(codes[pending], taken)
        weights = np.where(open_slots, sim.weights[items[pending]], 0.0)
        cdf = np.cumsum(weights, axis=1)
        slot = (cdf <= (rng.random(len(pending)) * cdf[:, -1])[:, None]).sum(axis=1)
        slot = np.minimum(slot, items.shape[1] - 1)
        chosen = np.where(cdf[:, -1] > 0, items[pending, slot], -1)
        picks[pending] = chosen
        picked = picks >= 0
        repeat = np.zeros(len(picks), bool)
        repeat[picked] = pd.Series(users[picked] * n_items + picks[picked]).duplicated().to_numpy()
        picks[repeat] = -1
        pending = np.flatnonzero(repeat)
        if not len(pending):
            break
    return picks


def _simulated_users(
    train: Dataset, held_out: Sequence[str], n: int | None, rng: np.random.Generator
) -> list[str]:
    """All training users, or the held-out ones plus a seeded sample of the rest up to n."""
    everyone = [str(u) for u in train.users["user_id"]]
    if n is None or n >= len(everyone):
        return everyone
    held = set(held_out)
    others = np.array([u for u in everyone if u not in held], dtype=object)
    extra = max(0, n - len(held))
    chosen = set(rng.choice(others, size=min(extra, len(others)), replace=False).tolist())
    return [u for u in everyone if u in held or u in chosen]


def _joined(found: list[_Watches], width: int) -> _Watches:
    """Watches (user, item, order, rating) in the order shown, with their pages' items and
    filled slots."""
    if not found:
        columns = {"user": np.int64, "item": np.int64, "order": np.int64, "rating": float}
        empty = pd.DataFrame({name: np.zeros(0, kind) for name, kind in columns.items()})
        return empty, np.zeros((0, width), np.int64), np.zeros((0, width), bool)
    frames, items, valid = zip(*found, strict=True)
    watches = pd.concat(frames, ignore_index=True)
    order = np.argsort(watches["order"].to_numpy(), kind="stable")
    return (
        watches.iloc[order].reset_index(drop=True),
        np.concatenate(items)[order],
        np.concatenate(valid)[order],
    )


def _pad(values: np.ndarray, width: int) -> np.ndarray:
    """A short last page's slots padded to the page width (as unfilled)."""
    if values.shape[1] == width:
        return values
    pad = np.zeros((len(values), width - values.shape[1]), values.dtype)
    return np.concatenate([values, pad], axis=1)


def _as_log(sim: _Simulation, watches: pd.DataFrame, ratings: np.ndarray) -> pd.DataFrame:
    """Watches as interaction rows; a user's timestamps count their watches in order."""
    log = pd.DataFrame(
        {
            "user_id": np.asarray(sim.user_ids, dtype=object)[watches["user"].to_numpy()],
            "item_id": sim.item_ids[watches["item"].to_numpy()],
            "order": watches["order"].to_numpy(),
            "rating": np.asarray(ratings, dtype=float),
        }
    )
    log = log.sort_values(["user_id", "order"], kind="stable").reset_index(drop=True)
    log["timestamp"] = log.groupby("user_id").cumcount().astype(np.int64)
    return log[["user_id", "item_id", "timestamp", "rating"]]


# -- scoring -----------------------------------------------------------------------------


def _ranking_lists(cases: Cases, tiebreak: np.ndarray) -> list[tuple[str, str, pd.DataFrame]]:
    """(kind of negatives, user, rows) per ranking list, in the suite's order."""
    r = cases.ranking.assign(tiebreak=tiebreak).sort_values(["kind", "list", "position"])
    return [
        (str(kind), str(rows["user_id"].iloc[0]), rows)
        for (kind, _), rows in r.groupby(["kind", "list"], sort=False)
    ]


def _ranks(recommender, lists: list[tuple[str, str, pd.DataFrame]]) -> dict[str, np.ndarray]:
    """The target's rank in each list under the recommender's order (ties by the key)."""
    ranks: dict[str, list[int]] = {}
    for kind, user, rows in lists:
        items = rows["item_id"].tolist()
        order = recommender.recommend([user], len(items), candidates=items, exclude_seen=False)
        position = {item: r for r, item in enumerate(order.get(user, []))}
        scores = np.array([1.0 - position.get(i, len(items)) / len(items) for i in items])
        target = int(np.flatnonzero(rows["label"].to_numpy())[0])
        rank = measures.rank_of_target(scores, rows["tiebreak"].to_numpy(), target)
        ranks.setdefault(kind, []).append(rank)
    return {kind: np.asarray(r) for kind, r in ranks.items()}


def _with_interactions(train: Dataset, interactions: pd.DataFrame) -> Dataset:
    """The training data's catalogue and users with another log."""
    return Dataset(
        train.name,
        train.users,
        train.items,
        interactions.reset_index(drop=True),
        source=train.source,
        meta=train.meta,
    )
