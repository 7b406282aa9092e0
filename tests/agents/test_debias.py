"""Position de-biasing and contextual calibration, pinned to direct computations."""

from __future__ import annotations

import math

import mesa
import numpy as np
import pytest

from agents.actions.base import PageObservation
from agents.actions.pick import PickAction
from agents.debias import (
    average_over_orders,
    calibrated,
    mean_distribution,
    monotone_map,
    remapped,
    shifted,
    shifted_orders,
    yes_shift,
)
from agents.domain import FILMS, MUSIC, NEUTRAL, domain_of
from agents.policy import LLMPolicy
from agents.profile import ItemProfile, Level, Traits, UserProfile
from agents.user import UserAgent
from simulator.types import LLMRequest, LLMResponse


def test_shifted_orders_are_evenly_spaced_cyclic_shifts():
    assert shifted_orders(4, 1) == [(0, 1, 2, 3)]
    assert shifted_orders(4, 2) == [(0, 1, 2, 3), (2, 3, 0, 1)]
    assert shifted_orders(3, 9) == [(0, 1, 2), (1, 2, 0), (2, 0, 1)]


def test_a_model_that_always_picks_position_one_scores_every_item_equally():
    labels = list("ABCDE")
    first = {"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.05, "E": 0.05}
    orders = shifted_orders(5, 5)
    mean = average_over_orders([first] * 5, orders, labels)
    assert np.allclose(list(mean.values()), 0.2)


def test_answers_are_mapped_back_to_the_items_they_were_about():
    labels = ["1", "2", "3"]
    # Order (2, 0, 1) shows item 2 first; its answer prefers position 1, so item 2.
    orders = [(0, 1, 2), (2, 0, 1)]
    answers = [
        {"0": 0.2, "1": 0.0, "2": 0.8, "3": 0.0},
        {"0": 0.0, "1": 1.0, "2": 0.0, "3": 0.0},
    ]
    mean = average_over_orders(answers, orders, labels, fixed=("0",))
    assert mean == pytest.approx({"0": 0.1, "1": 0.0, "2": 0.4, "3": 0.5})


def test_contextual_calibration_divides_by_the_content_free_answer():
    free = mean_distribution([{"yes": 0.9, "no": 0.1}, {"yes": 0.7, "no": 0.3}], ("yes", "no"))
    assert free == pytest.approx({"yes": 0.8, "no": 0.2})
    out = calibrated({"yes": 0.8, "no": 0.2}, free)
    assert out == pytest.approx({"yes": 0.5, "no": 0.5})
    out = calibrated({"yes": 0.6, "no": 0.4}, free)
    expected = np.array([0.6 / 0.8, 0.4 / 0.2])
    assert list(out.values()) == pytest.approx(list(expected / expected.sum()))


def test_personas_never_present_default_traits():
    assert "medium" not in UserProfile(user_id="u").describe().lower()
    assert "platform" not in UserProfile(user_id="u").describe()
    known = UserProfile(user_id="u", traits=Traits(diversity=Level.HIGH)).describe()
    assert "many genres" in known and "platform" not in known and "people's" not in known


def test_domain_words_come_from_the_dataset():
    assert domain_of("ml-100k", {"kind": "movielens-100k"}) == FILMS
    assert domain_of("CDs-100-user-dense", {"kind": "recbole"}) == MUSIC
    assert domain_of("synthetic", {"kind": "synthetic"}) == FILMS  # a film-like generator
    assert domain_of("shop-log", {"kind": "csv"}) == NEUTRAL
    given = domain_of("x", {"domain": {"items": "games", "consume": "play"}})
    assert (given.items, given.consume, given.heading) == ("games", "play", "Games")


class RecordingModel:
    """A fake model that records each batch and answers every request with ``probs(r)``."""

    label = "recording"

    def __init__(self) -> None:
        self.batches: list[list[LLMRequest]] = []

    def generate(self, requests):
        self.batches.append(list(requests))
        return [LLMResponse(text="1", choice_probs=self.probs(r)) for r in requests]

    def probs(self, request: LLMRequest) -> dict[str, float]:
        raise NotImplementedError


class FirstPosition(RecordingModel):
    """Puts most of its probability on option "1", whatever is there."""

    def probs(self, request):
        probs = {c: 0.02 for c in request.choices}
        probs["1"] = 1.0 - 0.02 * (len(request.choices) - 1)
        return probs


def test_pick_asks_every_shift_in_one_batch_and_cancels_position_bias():
    items = tuple(ItemProfile(item_id=f"i{k}", title=f"Item {k}") for k in range(3))
    model = mesa.Model(seed=0)
    agents = [UserAgent(model, UserProfile(user_id=f"u{k}")) for k in range(4)]
    obs = [
        PageObservation(step=1, page=1, items=items, recommender="r", draws=(0.5, 0.5))
        for _ in agents
    ]
    llm = FirstPosition()
    action = PickAction(domain=MUSIC, orders=3)
    combined = [
        action.combine(o, llm.generate(action.requests(a, o)))
        for a, o in zip(agents, obs, strict=True)
    ]
    assert combined[0].choice_probs["0"] == pytest.approx(0.02)
    assert [combined[0].choice_probs[str(k)] for k in (1, 2, 3)] == pytest.approx([0.98 / 3] * 3)
    llm.batches.clear()
    LLMPolicy(llm, action).decide(agents, obs)
    assert len(llm.batches[0]) == 3 * len(agents)
    assert "listen to" in llm.batches[0][0].messages[-1].content
    shown = [r.messages[-1].content for r in llm.batches[0][:3]]
    assert [s.index('"Item 0"') < s.index('"Item 1"') for s in shown] == [True, False, True]


def test_pick_divides_out_the_content_free_page_and_weighs_slots_as_the_utility_model():
    items = tuple(ItemProfile(item_id=f"i{k}", title=f"Item {k}") for k in range(4))
    model = mesa.Model(seed=0)
    agents = [UserAgent(model, UserProfile(user_id=f"u{k}")) for k in range(3)]
    obs = PageObservation(step=1, page=1, items=items, recommender="r", draws=(0.5, 0.5))
    llm = FirstPosition()
    # Two orders of four move the habit for "1" onto slots 1 and 3, rather than remove it.
    action = PickAction(orders=2)
    habit = action.combine(obs, llm.generate(action.requests(agents[0], obs))).choice_probs
    assert [habit[str(k)] for k in (1, 2, 3, 4)] == pytest.approx([0.47, 0.02, 0.47, 0.02])
    llm.batches.clear()
    LLMPolicy(llm, action).calibrate_ratings(agents, [], None, page_size=4)
    assert len(llm.batches) == 1 and len(llm.batches[0]) == 3 + 3, "pages and ratings at once"
    assert all('"N/A"' in r.messages[-1].content for r in llm.batches[0][:3])
    assert action.pick_prior == pytest.approx(
        {"1": 0.92 / 0.98, **dict.fromkeys("234", 0.02 / 0.98)}
    )
    probs = action.combine(obs, llm.generate(action.requests(agents[0], obs))).choice_probs
    # The habit divided out, the items are alike; slot k then weighs exp(-0.3·log2 k), and
    # picking nothing keeps the model's 0.02.
    weights = [math.exp(-0.3 * math.log2(k)) for k in (1, 2, 3, 4)]
    expected = [0.98 * w / sum(weights) for w in weights]
    assert [probs[str(k)] for k in (1, 2, 3, 4)] == pytest.approx(expected)
    assert probs["0"] == pytest.approx(0.02)


class SkewedRatings:
    """A fake model whose rating answers lean to 1 star whatever the item."""

    label = "skewed"

    def generate(self, requests):
        skew = {"1": 0.6, "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.1}
        return [LLMResponse(text="1", choice_probs=dict(skew)) for _ in requests]


def test_pick_ratings_divide_out_the_content_free_answer():
    model = mesa.Model(seed=0)
    agents = [UserAgent(model, UserProfile(user_id=f"u{k}")) for k in range(3)]
    items = (ItemProfile(item_id="a", title="A"),)
    action = PickAction(orders=1)
    prior = action.calibrate_ratings(SkewedRatings(), agents)
    assert prior == pytest.approx({"1": 0.6, "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.1})
    # With the prior divided out every rating is equally likely: draw 0.5 lands on 3 stars.
    obs = PageObservation(step=1, page=1, items=items, recommender="r", draws=(0.0, 0.5, 0.0))
    picked = LLMResponse(text="1", choice_probs={"0": 0.0, "1": 1.0})
    outcome = action.apply(agents[0], obs, picked)
    answer = SkewedRatings().generate([outcome.follow_up])[0]
    rated = action.resolve(agents[0], obs, outcome, answer)
    assert rated.interactions[0].rating == 3.0
    uncalibrated = PickAction(orders=1).resolve(agents[0], obs, outcome, answer)
    assert uncalibrated.interactions[0].rating == 1.0


def test_the_monotone_map_moves_the_source_marginal_onto_the_target_exactly():
    source, target = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    m = monotone_map(source, target)
    # Slices of [0, 1]: source [0, .5) [.5, .8) [.8, 1); target [0, .2) [.2, .5) [.5, 1).
    np.testing.assert_allclose(m, [[0.4, 0.6, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    moved = remapped(dict(zip("abc", source, strict=True)), m, "abc")
    assert list(moved.values()) == pytest.approx(target)
    # Order is kept: an all-low answer stays at or below an all-high one, level by level.
    low, high = remapped({"a": 1.0}, m, "abc"), remapped({"c": 1.0}, m, "abc")
    assert np.cumsum(list(low.values())) == pytest.approx([0.4, 1.0, 1.0])
    assert high == {"a": 0.0, "b": 0.0, "c": 1.0}
    # A level the source never gives maps to itself.
    assert monotone_map([1.0, 0.0], [0.5, 0.5])[1] == [0.0, 1.0]


class OneStarModel(RecordingModel):
    """Rates every real item mostly 1 star, and "N/A" evenly."""

    def probs(self, request):
        if "N/A" in request.messages[-1].content:
            return dict.fromkeys("12345", 0.2)
        return {"1": 0.8, "2": 0.05, "3": 0.05, "4": 0.05, "5": 0.05}


def test_pick_ratings_follow_the_datas_stars_after_the_start_of_run_map():
    model = mesa.Model(seed=0)
    agents = [UserAgent(model, UserProfile(user_id=f"u{k}")) for k in range(4)]
    rated = [(a, ItemProfile(item_id=f"h{k}", title=f"Seen {k}")) for k, a in enumerate(agents)]
    target = [0.1, 0.1, 0.2, 0.4, 0.2]
    llm = OneStarModel()
    action = PickAction(orders=1)
    LLMPolicy(llm, action).calibrate_ratings(agents[:2], rated, target)
    assert len(llm.batches) == 1 and len(llm.batches[0]) == 2 + 4, "one batch for both fits"
    assert action.rating_map is not None
    # Every rated example answered the same, so each rating now follows the target.
    obs = PageObservation(step=1, page=1, items=(rated[0][1],), recommender="r", draws=(0.0,))
    picked = LLMResponse(text="1", choice_probs={"0": 0.0, "1": 1.0})
    outcome = action.apply(agents[0], obs, picked)
    answer = llm.generate([outcome.follow_up])[0]
    for draw, stars in ((0.05, 1.0), (0.15, 2.0), (0.3, 3.0), (0.6, 4.0), (0.9, 5.0)):
        obs = PageObservation(step=1, page=1, items=obs.items, recommender="r", draws=(0.0, draw))
        assert action.resolve(agents[0], obs, outcome, answer).interactions[0].rating == stars


def test_yes_shift_puts_the_boundary_halfway_between_the_last_yes_and_the_first_no():
    scores = [0.6, 0.9, 0.7, 0.8]
    shift = yes_shift(scores, 0.5)
    assert shift == pytest.approx((math.log(0.8 / 0.2) + math.log(0.7 / 0.3)) / 2)
    moved = shifted(scores, shift)
    assert (moved >= 0.5).tolist() == [False, True, False, True]
    assert np.argsort(moved).tolist() == np.argsort(scores).tolist()
    assert (shifted(scores, yes_shift(scores, 0.0)) < 0.5).all()
    assert (shifted(scores, yes_shift(scores, 1.0)) >= 0.5).all()
