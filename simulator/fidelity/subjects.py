"""Who answers the fidelity cases: an agent under a policy and backend.

A subject is fitted on the training data (the held-out users' remaining history and the
behavioural personas) and then answers three kinds of question, each for many users at
once, so an LLM subject sends one batch per question kind:

* ``judge``: the probability that the user would watch each (user, item) pair;
* ``rank``: a score per candidate for groups of ten candidates;
* ``rate``: a distribution over the rating levels it is given (the dataset's scale, e.g.
  0.5, 1, ..., 5) for each (user, item) pair. Agents think in 1-5 stars (prompts, the
  ordered logit); ``simulator.dataset.stars_to_levels`` puts their answer on the scale.

``has_threshold`` says whether ``judge`` scores are probabilities with a meaning at 0.5
(an agent's yes/no). Floors are only scores; they answer yes/no by the base rate.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from agents.debias import (
    CONTENT_FREE_TITLE,
    AnswerMean,
    average_over_orders,
    batch_calibrated,
    calibrated,
    mean_distribution,
    monotone_map,
    remapped,
    shifted,
    shifted_orders,
    yes_shift,
)
from agents.domain import NEUTRAL, UNRATED, domain_of
from agents.hybrid import LLM_WEIGHT, pooled, pooled_yes, routes_to_llm
from agents.profile import ItemProfile, Level, Traits, UserProfile, item_profiles
from agents.prompts import (
    PROMPTS,
    bullet_memories,
    domain_words,
    hint_note,
    quote_item,
    quote_items,
    render,
    similar_note,
)
from agents.traits import measured_traits, traits_from_history
from agents.utility import (
    UtilityModel,
    UtilityParams,
    choice_probabilities,
)
from memory.embedders import HashingEmbedder
from simulator.dataset import Dataset, rating_scale
from simulator.llm.runtime import LLMRuntime
from simulator.ratings import between_scales, stars_to_levels
from simulator.types import LLMRequest

RATINGS = ("1", "2", "3", "4", "5")
LETTERS = tuple(string.ascii_uppercase)
HISTORY_SHOWN = 15
"""Latest rated items a persona prompt lists; Agent4Rec's profiles show about as many."""


class Subject(Protocol):
    name: str
    has_threshold: bool

    def fit(self, train: Dataset) -> None: ...

    def judge(self, pairs: pd.DataFrame) -> np.ndarray: ...

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]: ...

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray: ...


class LLMSubject:
    """The LLM agent: persona and rated history in the prompt, every answer a scored choice.

    Choices (yes/no, a letter, a rating) never fail to parse on backends with
    log-probabilities, and one forward pass gives the whole distribution: the ranking of
    ten items is the distribution of the first pick among them.

    Three corrections keep a small model's habits out of the answers (``agents.debias``):
    each ranking list is asked under ``orders`` cyclic shifts and averaged back onto the
    items (position bias); yes/no, rating and ranking answers are divided by the answer the
    model gives about a content-free item, asked once per prompt kind for a few personas
    (contextual calibration), and ranking answers then by their running mean per letter
    (batch calibration); and each judged or rated item comes with the user's verdicts on
    the ``grounding`` most similar items of their history.

    Args:
        llm: The batched model.
        orders: Orders each ranking list is asked in (1: as drawn only).
        calibrate: Divide yes/no, rating and ranking answers by the content-free answer,
            and ranking answers then by their running mean per letter.
        grounding: Similar history items shown per question (0: none).
        rating_prior: Multiply calibrated rating answers by the training data's share of
            each star, replacing the model's prior (divided out) by the data's. Off by
            default: with a model that knows little it makes ratings mostly the data's.
        rating_map: Move calibrated rating answers by the monotone map
            (``agents.debias.monotone_map``) from their mean on the first rating batch onto
            the training data's share of each star, as a world does at start. It uses no
            held-out rating, only the answers' own distribution; a rating answered higher
            than another stays higher.
        yes_map: Shift P(yes) on the first yes/no batch so that as many answers are yes
            as the taste core (the utility subject, fitted on the same training part)
            gives to the same questions: how often users say yes comes from a model of the
            data, which items get the yes from the LLM. No held-out label is used.
        hint: Show the taste core's estimate in each question ("a model of your past
            choices puts the chance ... at 72%"), per item in rankings: the model weighs
            it with the rest of the evidence. Off by default.
    """

    has_threshold = True

    def __init__(
        self,
        llm: LLMRuntime,
        *,
        orders: int = 3,
        calibrate: bool = True,
        grounding: int = 3,
        rating_prior: bool = False,
        rating_map: bool = True,
        yes_map: bool = True,
        hint: bool = False,
    ) -> None:
        self.llm = llm
        self.name = f"llm {llm.label}"
        self.orders = orders
        self.calibrate = calibrate
        self.grounding = grounding
        self.rating_prior = rating_prior
        self.fit_rating_map = rating_map
        self.rating_map: list[list[float]] | None = None
        self.fit_yes_map = yes_map
        self.hint = hint
        self.yes_shift: float | None = None
        self._taste: UtilitySubject | None = None
        self.failures = 0
        self._star_shares: np.ndarray | None = None
        self.domain = NEUTRAL
        self.content_free: dict[str, dict[str, float]] = {}
        """The mean content-free answer per prompt kind, once asked."""
        self.rank_mean = AnswerMean()
        """The running mean of the ranking answers per letter (after the content-free
        division), which ``rank`` divides them by."""
        self._profiles: dict[str, UserProfile] = {}
        self._memories: dict[str, str] = {}
        self._items: dict[str, ItemProfile] = {}
        self._history: dict[str, tuple[list[str], list[str]]] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def fit(self, train: Dataset) -> None:
        self.domain = domain_of(train.name, train.meta)
        if self.fit_yes_map or self.hint:
            self._taste = UtilitySubject()
            self._taste.fit(train)
        self._items = {p.item_id: p for p in item_profiles(train.items)}
        inter = train.interactions.sort_values(["user_id", "timestamp"], kind="stable")
        titles = train.items.set_index("item_id")["title"]
        genres = train.items.set_index("item_id")["genres"]
        users = train.users.set_index("user_id")
        demographic = [c for c in ("age", "gender", "occupation") if c in users.columns]
        scale = rating_scale(train)
        high = scale.high if scale else 5.0
        traits = measured_traits(train)
        self._star_shares = scale.star_shares(train.interactions["rating"]) if scale else None
        self._history = {}
        for user, rows in inter.groupby("user_id", sort=False):
            entries = [
                f'"{titles.get(i, i)}", {_stars(r, high)}'
                for i, r in zip(rows["item_id"], rows["rating"], strict=True)
            ]
            self._history[user] = (rows["item_id"].astype(str).tolist(), entries)
            self._memories[user] = bullet_memories(entries[-HISTORY_SHOWN:])
            liked = rows[rows["rating"] >= scale.liked]["item_id"] if scale else rows["item_id"]
            top = pd.Series([g for i in liked for g in genres.get(i, ())]).value_counts()
            record = users.loc[user] if user in users.index else pd.Series(dtype=object)
            self._profiles[user] = UserProfile(
                user_id=str(user),
                demographics={
                    c: str(record[c]) for c in demographic if pd.notna(record.get(c, None))
                },
                favourite_genres=tuple(top.index[:5]),
                traits=traits.get(str(user), Traits()),
            )
        if self.grounding:
            ids = list(self._items)
            vectors = HashingEmbedder().embed([self._items[i].describe() for i in ids])
            self._vectors = dict(zip(ids, vectors, strict=True))

    def _persona(self, user: str) -> tuple[str, str]:
        profile = self._profiles.get(user) or UserProfile(user_id=user)
        return profile.describe(), self._memories.get(user, bullet_memories([]))

    def _similar(self, user: str, item: str) -> str:
        """The user's verdicts on the history items most like ``item`` (by text embedding)."""
        ids, entries = self._history.get(user, ([], []))
        if not self.grounding or item not in self._vectors:
            return ""
        rows = [k for k, i in enumerate(ids) if i != item and i in self._vectors]
        if not rows:
            return ""
        similarity = np.stack([self._vectors[ids[k]] for k in rows]) @ self._vectors[item]
        best = np.argsort(-similarity, kind="stable")[: self.grounding]
        return similar_note(self.domain, [entries[rows[k]] for k in best])

    def _ask(self, requests: list[LLMRequest]) -> list[dict[str, float] | None]:
        answers = self.llm.generate(requests)
        out = []
        for answer in answers:
            if not answer.ok or not answer.choice_probs:
                self.failures += 1
                out.append(None)
            else:
                out.append(answer.choice_probs)
        return out

    def _estimates(self, users: Sequence[str], items: Sequence[str]) -> np.ndarray | None:
        """With ``hint``, the taste core's P(yes) for each (user, item); None without."""
        if not self.hint or self._taste is None or not len(users):
            return None
        return self._taste.judge(pd.DataFrame({"user_id": list(users), "item_id": list(items)}))

    def _hints(self, users: Sequence[str], items: Sequence[str]) -> list[str]:
        """The taste core's estimate for each (user, item), as question lines ("" without
        ``hint``)."""
        estimates = self._estimates(users, items)
        if estimates is None:
            return [""] * len(users)
        return [hint_note(float(p)) for p in estimates]

    def _question(self, task: str, user: str, item: ItemProfile, similar: str) -> LLMRequest:
        persona, memories = self._persona(user)
        messages = render(
            PROMPTS[task],
            persona=persona,
            memories=memories,
            item=quote_item(item),
            similar=similar,
            **domain_words(self.domain),
        )
        return LLMRequest(messages=messages, choices=_CHOICES[task], tag=task)

    def _about_items(self, pairs: pd.DataFrame, task: str) -> list[dict[str, float] | None]:
        """One choice request per (user, item) pair: the persona asked about one item.

        The first call of a prompt kind also asks, in the same batch, about a content-free
        item for the first few users; later answers are divided by their mean.
        """
        users = [str(u) for u in pairs["user_id"]]
        hints = self._hints(users, [str(i) for i in pairs["item_id"]])
        requests = [
            self._question(task, user, self._items[item], self._similar(user, item) + hint)
            for user, item, hint in zip(users, pairs["item_id"], hints, strict=True)
        ]
        free: list[LLMRequest] = []
        if self.calibrate and task not in self.content_free:
            # The same template as the real questions, every item-dependent part content-free.
            blank = ItemProfile(item_id="", title=CONTENT_FREE_TITLE)
            note = similar_note(self.domain, [CONTENT_FREE_TITLE]) if self.grounding else ""
            note += hint_note(None) if self.hint else ""
            free = [
                self._question(task, u, blank, note)
                for u in list(dict.fromkeys(users))[:CONTENT_FREE_PERSONAS]
            ]
        answers = self._ask(free + requests)
        if free:
            prior = mean_distribution(answers[: len(free)], _CHOICES[task])
            if prior is not None:
                self.content_free[task] = prior
        answers = answers[len(free) :]
        prior = self.content_free.get(task) if self.calibrate else None
        if prior is None:
            return answers
        return [None if a is None else calibrated(_only(a, _CHOICES[task]), prior) for a in answers]

    def judge_request(self, user: str, item: str) -> LLMRequest:
        """The yes/no question this subject asks about one item (after ``fit``): the
        prompt a tuned model is trained on, so it is asked in its own terms."""
        note = self._similar(user, item) + self._hints([user], [item])[0]
        return self._question("judge", user, self._items[item], note)

    def rank_request(self, user: str, items: Sequence[str]) -> LLMRequest:
        """The ranking question about ``items`` in the order shown, lettered from A."""
        return self._listing(user, [self._items[i] for i in items], self._rank_notes(user, items))

    def judge(self, pairs: pd.DataFrame) -> np.ndarray:
        scores = np.full(len(pairs), np.nan)
        for i, probs in enumerate(self._about_items(pairs, "judge")):
            if probs is not None:
                total = probs.get("yes", 0.0) + probs.get("no", 0.0)
                scores[i] = probs.get("yes", 0.0) / total if total else 0.5
        answered = ~np.isnan(scores)
        if (
            self.fit_yes_map
            and self._taste is not None
            and self.yes_shift is None
            and answered.any()
        ):
            share = float((self._taste.judge(pairs[answered]) >= 0.5).mean())
            self.yes_shift = yes_shift(scores[answered], share)
        if self.yes_shift is not None:
            scores[answered] = shifted(scores[answered], self.yes_shift)
        return scores

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """Each list under ``orders`` cyclic shifts, all in one batch, averaged back.

        With ``calibrate``, the first call also asks about a list of content-free items for
        a few users; that answer is the model's preference for each letter, divided out of
        every answer before the shifts are averaged (a few shifts alone move a strong
        preference for some letters onto the items shown there in every order). What is
        left of the preference on real lists is then divided out too, by the running mean
        answer per letter (batch calibration, Zhou et al. 2024): SmolLM2, calibrated on
        content-free lists only, still leaned to letters B, F and I, which three shifts of
        ten put on the same item, and that item was the first pick in 11 of 12 lists.
        """
        requests, shapes = [], []
        for user, items in groups:
            labels = LETTERS[: len(items)]
            orders = shifted_orders(len(items), self.orders)
            shapes.append((labels, orders))
            notes = self._rank_notes(user, items)
            for order in orders:
                shown = [self._items[items[i]] for i in order]
                requests.append(self._listing(user, shown, notes and [notes[i] for i in order]))
        free: list[LLMRequest] = []
        if self.calibrate and "rank" not in self.content_free and groups:
            blank = ItemProfile(item_id="", title=CONTENT_FREE_TITLE)
            size = max(len(items) for _, items in groups)
            users = list(dict.fromkeys(str(u) for u, _ in groups))[:CONTENT_FREE_PERSONAS]
            unknown = ["model's estimate: unknown"] * size if self.hint else None
            free = [self._listing(u, [blank] * size, unknown) for u in users]
        answers = self._ask(free + requests)
        if free:
            prior = mean_distribution(answers[: len(free)], free[0].choices or ())
            if prior is not None:
                self.content_free["rank"] = prior
        prior = self.content_free.get("rank") if self.calibrate else None
        rest = iter(answers[len(free) :])
        lists: list[list[dict[str, float]] | None] = []
        for labels, orders in shapes:
            probs = [next(rest) for _ in orders]
            if any(p is None for p in probs):
                lists.append(None)
                continue
            shown = [_only(p, labels) for p in probs if p is not None]
            if prior is not None and set(labels) <= set(prior):
                shown = [calibrated(p, prior) for p in shown]
            lists.append(shown)
        if self.calibrate:
            asked = [a for shown in lists if shown is not None for a in shown]
            answered = iter(batch_calibrated(asked, self.rank_mean))
            lists = [None if shown is None else [next(answered) for _ in shown] for shown in lists]
        out = []
        for (labels, orders), shown in zip(shapes, lists, strict=True):
            if shown is None:
                out.append(np.full(len(labels), np.nan))
                continue
            mean = average_over_orders(shown, orders, labels)
            out.append(np.array([mean[x] for x in labels]))
        return out

    def _rank_notes(self, user: str, items: Sequence[str]) -> list[str] | None:
        """With ``hint``, the taste core's estimate for each item, as its listing note."""
        estimates = self._estimates([user] * len(items), items)
        if estimates is None:
            return None
        return [f"model's estimate: {p:.0%}" for p in estimates]

    def _listing(
        self, user: str, items: Sequence[ItemProfile], notes: Sequence[str] | None = None
    ) -> LLMRequest:
        """The ranking question about ``items`` in the order shown, lettered from A."""
        persona, memories = self._persona(user)
        labels = LETTERS[: len(items)]
        messages = render(
            PROMPTS["rank"],
            persona=persona,
            memories=memories,
            items=quote_items(items, notes=notes, labels=labels),
            count=str(len(items)),
            **domain_words(self.domain),
        )
        return LLMRequest(messages=messages, choices=labels, tag="rank")

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
        stars = np.full((len(pairs), len(RATINGS)), np.nan)
        answers = self._about_items(pairs, "rate_after_history")
        shares = self._star_shares
        if self.fit_rating_map and self.rating_map is None and shares is not None:
            source = mean_distribution(answers, RATINGS)
            if source is not None:
                self.rating_map = monotone_map([source[r] for r in RATINGS], list(shares))
        if self.rating_map is not None:
            answers = [
                None if a is None else remapped(a, self.rating_map, RATINGS) for a in answers
            ]
        for i, probs in enumerate(answers):
            if probs is not None:
                row = np.array([probs.get(r, 0.0) for r in RATINGS])
                if self.rating_prior and self._star_shares is not None:
                    row = row * self._star_shares
                stars[i] = row / row.sum() if row.sum() else 1.0 / len(RATINGS)
        out = stars_to_levels(np.nan_to_num(stars), levels)
        out[np.isnan(stars).any(axis=1)] = np.nan
        return out


CONTENT_FREE_PERSONAS = 5
"""Personas asked about the content-free item; their answers are averaged."""

_CHOICES = {"judge": ("yes", "no"), "rate_after_history": RATINGS}


def _only(probs: dict[str, float], choices: Sequence[str]) -> dict[str, float]:
    return {c: probs.get(c, 0.0) for c in choices}


class UtilitySubject:
    """The LLM-free utility policy (``agents.utility``), asked the same questions.

    ``judge`` is the click probability when the item is shown alone on a page, so the
    outside option (watching nothing) competes with it exactly as in a run.
    """

    name = "utility"
    has_threshold = True

    def __init__(self, params: UtilityParams | None = None) -> None:
        self.params = params or UtilityParams()
        self.model: UtilityModel | None = None
        self._traits: dict[str, tuple[float, float]] = {}

    def fit(self, train: Dataset) -> None:
        self.model = UtilityModel.from_dataset(train, self.params)
        traits = traits_from_history(train)
        p = self.params
        self._traits = {
            u: (p.multiplier(Level(c)), p.multiplier(Level(d)))
            for u, c, d in zip(
                traits["user_id"], traits["conformity"], traits["diversity"], strict=True
            )
        }

    def _arrays(self, users: Sequence[str], items: np.ndarray):
        model = self._fitted()
        user_rows = model.user_rows([UserProfile(user_id=u) for u in users])
        item_rows = model.item_rows([ItemProfile(item_id=i, title=i) for i in items.ravel()])
        item_rows = item_rows.reshape(items.shape)
        preference = model.preference(user_rows, item_rows)
        medium = (1.0, 1.0)
        conformity = np.array([self._traits.get(u, medium)[0] for u in users])
        diversity = np.array([self._traits.get(u, medium)[1] for u in users])
        return model, user_rows, preference, item_rows, conformity, diversity

    def judge(self, pairs: pd.DataFrame) -> np.ndarray:
        items = pairs["item_id"].to_numpy(dtype=object)[:, None]
        model, _, preference, rows, conformity, diversity = self._arrays(
            list(pairs["user_id"]), items
        )
        utility = model.click_utilities(preference, rows, conformity, diversity)
        return choice_probabilities(utility, model.outside_option(1))[:, 1]

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        users = [u for u, _ in groups]
        items = np.array([list(i) for _, i in groups], dtype=object)
        model, _, preference, rows, conformity, diversity = self._arrays(users, items)
        return list(model.click_utilities(preference, rows, conformity, diversity))

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
        items = pairs["item_id"].to_numpy(dtype=object)[:, None]
        model, users, preference, rows, conformity, _ = self._arrays(list(pairs["user_id"]), items)
        probs = model.rating_distribution(users, preference[:, 0], rows[:, 0], conformity)
        return between_scales(probs, np.asarray(model.params.rating_levels), levels)

    def _fitted(self) -> UtilityModel:
        if self.model is None:
            raise RuntimeError("UtilitySubject has not been fit; call fit(train) first")
        return self.model


def _stars(rating: float, high: float) -> str:
    """A rating as the prompt shows it, on the data's own scale ("3.5/5"), or that the user
    interacted with an item they did not rate (implicit feedback is no proof of a watch)."""
    return f"{rating:g}/{high:g}" if pd.notna(rating) else UNRATED


class HybridSubject:
    """The hybrid policy (``agents.hybrid``) applied to the fidelity cases.

    The utility model answers; a question goes to the LLM when the model's probability of
    a watch is within ``band`` of 0.5 or the film has no training history, as pages do in
    a run. For ranking, that probability is the chance of any pick among the ten films.
    The LLM's answer is pooled with the utility model's, as in a run: P(yes) by
    ``pooled_yes``; a ranking list's choice probabilities by ``pooled`` (the LLM's are
    order-averaged and content-free calibrated already, so they are not batch-calibrated
    again); a rating as the mean of the two, the LLM's weighed ``llm_weight``.
    ``routed`` and ``asked`` count the questions sent to the LLM and all questions.
    """

    has_threshold = True

    def __init__(
        self,
        utility: UtilitySubject,
        llm: LLMSubject,
        *,
        band: float = 0.15,
        llm_weight: float = LLM_WEIGHT,
    ) -> None:
        self.utility = utility
        self.llm = llm.llm
        self._llm_subject = llm
        self.band = band
        self.llm_weight = llm_weight
        self.name = f"hybrid {self.llm.label}"
        self.routed = 0
        self.asked = 0

    @property
    def failures(self) -> int:
        return self._llm_subject.failures

    def fit(self, train: Dataset) -> None:
        self.utility.fit(train)
        self._llm_subject.fit(train)
        self._cold = set(train.items["item_id"].astype(str)) - set(
            train.interactions["item_id"].astype(str)
        )

    def _route(self, probability: np.ndarray, items: Sequence[Sequence[str]]) -> np.ndarray:
        cold = [any(i in self._cold for i in group) for group in items]
        route = routes_to_llm(probability, cold, self.band)
        self.routed += int(route.sum())
        self.asked += len(route)
        return route

    def judge(self, pairs: pd.DataFrame) -> np.ndarray:
        scores = self.utility.judge(pairs)
        route = self._route(scores, [[i] for i in pairs["item_id"]])
        if route.any():
            scores = scores.copy()
            answers = self._llm_subject.judge(pairs[route])
            scores[route] = pooled_yes(scores[route], answers, self.llm_weight)
        return scores

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        utilities = self.utility.rank(groups)
        outside = self.utility._fitted().outside_option
        options = [choice_probabilities(u[None, :], outside(len(u)))[0] for u in utilities]
        route = self._route(np.array([1 - o[0] for o in options]), [i for _, i in groups])
        answers = iter(self._llm_subject.rank([g for g, r in zip(groups, route, strict=True) if r]))
        out = []
        for u, shares, routed in zip(utilities, options, route, strict=True):
            if not routed:
                out.append(u)
                continue
            answer = next(answers)
            prior = {str(k): float(p) for k, p in enumerate(shares[1:])}
            evidence = (
                None if np.isnan(answer).any() else {str(k): float(a) for k, a in enumerate(answer)}
            )
            mixed = pooled(prior, evidence, self.llm_weight)
            out.append(np.log(np.maximum([mixed[str(k)] for k in range(len(u))], 1e-300)))
        return out

    def rate(self, pairs: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
        ratings = self.utility.rate(pairs, levels)
        route = self._route(self.utility.judge(pairs), [[i] for i in pairs["item_id"]])
        if route.any():
            ratings = ratings.copy()
            answers = self._llm_subject.rate(pairs[route], levels)
            answered = ~np.isnan(answers)
            w = self.llm_weight
            mixed = (ratings[route] + w * answers) / (1 + w)
            ratings[route] = np.where(answered, mixed, ratings[route])
        return ratings
