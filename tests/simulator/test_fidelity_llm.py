"""The fidelity LLM subject's prompts and corrections, with fake models of known bias."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from agents.debias import CONTENT_FREE_TITLE
from scenarios.datasets import generate_synthetic
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.subjects import LLMSubject, UtilitySubject
from simulator.llm.runtime import LLMRuntime
from simulator.types import LLMResponse


@pytest.fixture(scope="module")
def cases():
    data = generate_synthetic(n_users=40, n_items=80, history_per_user=15, seed=2)
    return build_cases(data, CaseConfig(users=4, positives=1, rated=2, multiples=(1,)))


class Fake:
    """Answers with fixed probabilities: the content-free item gets ``free``, any other
    question ``real``; a letter question puts ``first`` on "A" and the rest evenly."""

    name = "fake"
    model = "fixed"

    def __init__(self, free=None, real=None, first=0.5) -> None:
        self.free, self.real, self.first = free or {}, real or {}, first
        self.requests = []

    def generate(self, requests):
        self.requests.extend(requests)
        out = []
        for r in requests:
            if r.tag == "rank":
                rest = (1 - self.first) / (len(r.choices) - 1)
                probs = {c: (self.first if c == "A" else rest) for c in r.choices}
            else:
                blank = f'<items>"{CONTENT_FREE_TITLE}" (unknown genre)</items>' in (
                    r.messages[-1].content
                )
                probs = dict(self.free if blank else self.real)
            out.append(LLMResponse(text="", choice_probs=probs))
        return out


def subject(fake: Fake, **options) -> LLMSubject:
    return LLMSubject(LLMRuntime(fake), **options)


def test_ranking_over_all_cyclic_shifts_cancels_a_first_position_preference(cases):
    fake = Fake(first=0.9)
    llm = subject(fake, orders=10)
    llm.fit(cases.train)
    groups = [
        (u, list(rows["item_id"])) for (u, _), rows in cases.ranking.groupby(["user_id", "list"])
    ]
    scores = llm.rank(groups)
    for s in scores:
        assert np.allclose(s, 1 / len(s))
    users = len({u for u, _ in groups})
    assert len(fake.requests) == 10 * len(groups) + min(5, users)
    raw = subject(Fake(first=0.9), orders=1, calibrate=False)
    raw.fit(cases.train)
    assert all(int(np.argmax(s)) == 0 for s in raw.rank(groups))
    # Dividing by the content-free list's letters alone also cancels it, with one order.
    calibrated = subject(Fake(first=0.9), orders=1)
    calibrated.fit(cases.train)
    assert all(np.allclose(s, 1 / len(s)) for s in calibrated.rank(groups))


class LetterHabit:
    """A ranking model that leans to letter B on real lists (not on content-free ones) and
    likes the ``favourites`` twice as much as any other item wherever they are shown."""

    name = "habit"
    model = "fixed"

    def __init__(self, favourites: set[str]) -> None:
        self.favourites = favourites

    def generate(self, requests):
        out = []
        for r in requests:
            lines = {
                line[0]: line
                for line in r.messages[-1].content.splitlines()
                if len(line) > 2 and line[1:3] == ". "
            }
            weights = {}
            for c in r.choices:
                shown = lines.get(c, "")
                blank = f'"{CONTENT_FREE_TITLE}"' in shown
                liked = any(f'"{title}"' in shown for title in self.favourites)
                weights[c] = 1.0 if blank else (14.0 if c == "B" else 1.0) * (2.0 if liked else 1.0)
            total = sum(weights.values())
            out.append(
                LLMResponse(text="", choice_probs={c: w / total for c, w in weights.items()})
            )
        return out


def test_ranking_divides_out_a_letter_habit_the_content_free_list_does_not_show(cases):
    titles = cases.train.items.set_index("item_id")["title"]
    positives = cases.ranking[cases.ranking["label"].astype(bool)]
    groups = [
        (u, list(rows["item_id"])) for (u, _), rows in cases.ranking.groupby(["user_id", "list"])
    ]
    targets = [
        int(np.flatnonzero(rows["label"].to_numpy())[0])
        for _, rows in cases.ranking.groupby(["user_id", "list"])
    ]
    habit = LetterHabit({titles[i] for i in positives["item_id"]})
    llm = subject(habit, orders=3)
    llm.fit(cases.train)
    scores = llm.rank(groups)
    # Divided by the mean answer per letter, B's habit is gone and the liked item leads
    # (in all but one list: a batch of 24 answers shows the liked items more often at some
    # letters than others, and their mean divides that out too).
    tops = [int(np.argmax(s)) for s in scores]
    assert sum(t == target for t, target in zip(tops, targets, strict=True)) >= len(groups) - 1
    # The content-free list alone (answered evenly) leaves the habit: the pick is one of
    # the items the three shifts show at B (1, 4 and 7 of ten), whatever is liked.
    assert llm.content_free["rank"] == pytest.approx(dict.fromkeys("ABCDEFGHIJ", 0.1))
    uncorrected = subject(LetterHabit(habit.favourites), orders=3, calibrate=False)
    uncorrected.fit(cases.train)
    tops = [int(np.argmax(s)) for s in uncorrected.rank(groups)]
    assert set(tops) <= {1, 4, 7}
    assert sum(t == target for t, target in zip(tops, targets, strict=True)) <= 2


def test_contextual_calibration_divides_by_the_content_free_answer(cases):
    fake = Fake(free={"yes": 0.8, "no": 0.2}, real={"yes": 0.9, "no": 0.1})
    llm = subject(fake, yes_map=False)
    llm.fit(cases.train)
    pairs = cases.discrimination[["user_id", "item_id"]].reset_index(drop=True)
    scores = llm.judge(pairs)
    odds = (0.9 / 0.8) / (0.1 / 0.2)
    assert scores == pytest.approx(np.full(len(pairs), odds / (1 + odds)))
    assert llm.content_free["judge"] == pytest.approx({"yes": 0.8, "no": 0.2})
    asked = len(fake.requests)
    assert asked == len(pairs) + min(5, pairs["user_id"].nunique())
    llm.judge(pairs)  # the content-free answer is asked once per prompt kind
    assert len(fake.requests) == asked + len(pairs)
    raw = subject(
        Fake(free={"yes": 0.8, "no": 0.2}, real={"yes": 0.9, "no": 0.1}),
        calibrate=False,
        yes_map=False,
    )
    raw.fit(cases.train)
    assert raw.judge(pairs) == pytest.approx(np.full(len(pairs), 0.9))


class YesToAll(Fake):
    """Says yes to every item, more or less strongly by the item's text (a fixed hash)."""

    def generate(self, requests):
        self.requests.extend(requests)
        out = []
        for r in requests:
            yes = 0.8 + 0.19 * (zlib.crc32(r.messages[-1].content.encode()) % 1000) / 1000
            out.append(LLMResponse(text="", choice_probs={"yes": yes, "no": 1.0 - yes}))
        return out


def test_the_yes_map_takes_the_yes_rate_from_the_taste_core_and_the_order_from_the_llm():
    data = generate_synthetic(n_users=60, n_items=120, history_per_user=15, seed=3)
    cases = build_cases(data, CaseConfig(users=12, positives=2, rated=2, multiples=(1,)))
    pairs = cases.discrimination[["user_id", "item_id"]].reset_index(drop=True)
    raw = subject(YesToAll(), calibrate=False, yes_map=False)
    raw.fit(cases.train)
    before = raw.judge(pairs)
    assert (before >= 0.5).all()  # the model's habit: yes to everything
    taste = UtilitySubject()
    taste.fit(cases.train)
    target = float((taste.judge(pairs) >= 0.5).mean())
    assert 0.0 < target < 1.0
    llm = subject(YesToAll(), calibrate=False)
    llm.fit(cases.train)
    after = llm.judge(pairs)
    # Exact up to ties: a pair asked twice (in two lists) gets the same answer twice.
    assert float((after >= 0.5).mean()) == pytest.approx(target, abs=2 / len(pairs))
    assert np.array_equal(np.argsort(after, kind="stable"), np.argsort(before, kind="stable"))
    assert llm.judge(pairs) == pytest.approx(after)  # the shift is fitted once


def test_rating_calibration_flattens_a_constant_prior(cases):
    skew = {"1": 0.6, "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.1}
    llm = subject(Fake(free=skew, real=skew), rating_map=False)
    llm.fit(cases.train)
    probs = llm.rate(cases.rating[["user_id", "item_id"]], np.arange(1.0, 6.0))
    assert probs == pytest.approx(np.full(probs.shape, 0.2))


def test_personas_show_measured_traits_and_the_datasets_words(cases):
    fake = Fake(free={"yes": 0.5, "no": 0.5}, real={"yes": 0.5, "no": 0.5})
    llm = subject(fake)
    train = dataclasses.replace(cases.train, name="CDs-small", meta={"kind": "recbole"})
    llm.fit(train)
    llm.judge(cases.discrimination[["user_id", "item_id"]].head(1))
    persona, task = fake.requests[-1].messages[1].content, fake.requests[-1].messages[-1].content
    assert "medium" not in persona.lower()
    assert "Activity" not in persona and "platform" in persona
    assert task.startswith("CDs in your history") and "listen to it?" in task
    assert "film" not in task.lower() and "watch" not in task
    assert "The most similar CDs in your history:" in task


def test_unrated_history_reads_interacted_with(cases):
    inter = cases.train.interactions.assign(rating=np.nan)
    train = dataclasses.replace(cases.train, interactions=inter, meta={})
    fake = Fake(free={"yes": 0.5, "no": 0.5}, real={"yes": 0.5, "no": 0.5})
    llm = subject(fake)
    llm.fit(train)
    llm.judge(cases.discrimination[["user_id", "item_id"]].head(1))
    persona, task = fake.requests[-1].messages[1].content, fake.requests[-1].messages[-1].content
    assert "interacted with" in task and "watched" not in task and "/5" not in task
    # Without ratings the data cannot tell conformity; it is left out, not called medium.
    assert "people's" not in persona


def test_the_rating_prior_replaces_the_models_prior_by_the_datas(cases):
    skew = {"1": 0.6, "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.1}
    llm = subject(Fake(free=skew, real=skew), rating_prior=True, rating_map=False)
    llm.fit(cases.train)
    probs = llm.rate(cases.rating[["user_id", "item_id"]], np.arange(1.0, 6.0))
    ratings = cases.train.interactions["rating"].dropna().round().astype(int)
    shares = np.bincount(ratings - 1, minlength=5) / len(ratings)
    assert probs == pytest.approx(np.tile(shares, (len(probs), 1)))


def test_the_rating_map_moves_answers_onto_the_datas_stars_keeping_their_order(cases):
    even = dict.fromkeys("12345", 0.2)
    ones = {"1": 0.8, "2": 0.05, "3": 0.05, "4": 0.05, "5": 0.05}
    llm = subject(Fake(free=even, real=ones))
    llm.fit(cases.train)
    probs = llm.rate(cases.rating[["user_id", "item_id"]], np.arange(1.0, 6.0))
    ratings = cases.train.interactions["rating"].dropna().round().astype(int)
    shares = np.bincount(ratings - 1, minlength=5) / len(ratings)
    # Every answer is the same, so each is moved exactly onto the data's distribution.
    assert probs == pytest.approx(np.tile(shares, (len(probs), 1)))
    assert llm.rating_map is not None
    unmapped = subject(Fake(free=even, real=ones), rating_map=False)
    unmapped.fit(cases.train)
    raw = unmapped.rate(cases.rating[["user_id", "item_id"]], np.arange(1.0, 6.0))
    assert raw[0] == pytest.approx([0.8, 0.05, 0.05, 0.05, 0.05])


def test_the_hint_shows_the_taste_cores_own_estimate_in_every_question(cases):
    fake = Fake(free={"yes": 0.5, "no": 0.5}, real={"yes": 0.5, "no": 0.5})
    llm = subject(fake, hint=True, yes_map=False)
    llm.fit(cases.train)
    pairs = cases.discrimination_case("uniform", 1)[["user_id", "item_id"]]
    llm.judge(pairs)
    taste = UtilitySubject()
    taste.fit(cases.train)
    expected = taste.judge(pairs)
    asked = [r for r in fake.requests if r.tag == "judge"]
    free, real = asked[: len(asked) - len(pairs)], asked[len(asked) - len(pairs) :]
    for request, p in zip(real, expected, strict=True):
        assert f"puts the chance that you would like it at {p:.0%}." in request.messages[-1].content
    # The content-free questions carry the line too, with nothing known.
    assert free and all("at unknown." in r.messages[-1].content for r in free)
    # In a ranking, each item carries its own estimate, whatever order it is shown in.
    user, items = cases.users[0], pairs["item_id"][pairs["user_id"] == cases.users[0]].tolist()
    request = llm.rank_request(user, items)
    for item, p in zip(items, taste.judge(pairs[pairs["user_id"] == user]), strict=True):
        quoted = f'"{llm._items[item].title}"'
        line = next(x for x in request.messages[-1].content.splitlines() if quoted in x)
        assert line.endswith(f"(model's estimate: {p:.0%})")


def test_without_the_hint_no_question_mentions_a_model(cases):
    fake = Fake(free={"yes": 0.5, "no": 0.5}, real={"yes": 0.5, "no": 0.5})
    llm = subject(fake)
    llm.fit(cases.train)
    llm.judge(cases.discrimination_case("uniform", 1)[["user_id", "item_id"]])
    assert not any("model" in r.messages[-1].content for r in fake.requests)
