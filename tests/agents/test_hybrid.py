import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.debias import AnswerMean, batch_calibrated
from agents.hybrid import pooled, pooled_yes, routes_to_llm
from scenarios.loader import load_scenario
from simulator.compose import open_world
from simulator.runlog import read_interactions


def run(policy, band=None, run_dir=None, steps=3, **overrides):
    scenario = load_scenario(
        "quickstart",
        steps=steps,
        policy=policy,
        **{
            "population.size": 40,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
            **overrides,
        },
    )
    world = open_world(scenario, seed=2, run_dir=run_dir)
    if band is not None:
        world.policy.band = band
    world.run()
    world.close()
    return world


def test_hybrid_routes_only_some_pages_to_the_llm():
    # An outside option this low leaves some pages near even odds of a watch.
    world = run("hybrid", utility={"no_click": -1.0})
    share = world.policy.routed_share
    assert 0.0 < share < 1.0
    browse_calls = world.llm.stats.calls
    assert browse_calls > 0
    assert world.metrics()["routed_share"].iloc[-1] == share


def test_a_narrower_band_routes_fewer_pages():
    wide = run("hybrid", utility={"no_click": -1.0})
    narrow = run("hybrid", utility={"no_click": -1.0}, band=0.05)
    assert narrow.policy.routed_share < wide.policy.routed_share


def test_utility_policy_makes_no_llm_calls():
    world = run("utility")
    assert world.llm.stats.calls == 0
    assert world.metrics()["watches"].sum() > 0


def test_routing_takes_pages_within_the_band_and_pages_with_a_cold_item():
    band = 0.15
    probability = [0.5, 0.36, 0.64, 0.34, 0.66, 0.0, 1.0, 0.9]
    cold = [False, False, False, False, False, False, False, True]
    route = routes_to_llm(probability, cold, band)
    assert route.dtype == bool
    assert route.tolist() == [True, True, True, False, False, False, False, True]


def test_routing_band_edges_are_inclusive_and_zero_band_takes_only_cold_pages():
    # 0.25 and 0.75 are exact in binary, so |p − 0.5| equals the band exactly.
    assert routes_to_llm([0.25, 0.75, 0.2499, 0.7501], [False] * 4, 0.25).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert routes_to_llm([0.5, 0.5], [False, True], 0.0).tolist() == [True, True]
    assert routes_to_llm([0.49, 0.9], [False, True], 0.0).tolist() == [False, True]
    assert routes_to_llm([], [], 0.15).tolist() == []


# -- pooling the LLM's answer with the taste core's prior --------------------------------


def test_pool_is_the_renormalised_product_of_prior_and_weighted_evidence():
    prior = {"a": 0.5, "b": 0.3, "c": 0.2}
    evidence = {"a": 0.2, "b": 0.5, "c": 0.3}
    # Weight 1: products 0.10, 0.15, 0.06 over their sum 0.31.
    assert pooled(prior, evidence, 1.0) == pytest.approx(
        {"a": 0.10 / 0.31, "b": 0.15 / 0.31, "c": 0.06 / 0.31}
    )
    # Weight 2: 0.5·0.04, 0.3·0.25, 0.2·0.09 = 0.020, 0.075, 0.018 over 0.113.
    assert pooled(prior, evidence, 2.0) == pytest.approx(
        {"a": 0.020 / 0.113, "b": 0.075 / 0.113, "c": 0.018 / 0.113}
    )
    assert pooled(prior, evidence, 0.0) == prior
    assert pooled(prior, None, 1.0) == prior


@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6),
    st.floats(0.01, 1.0),
    st.floats(0.0, 5.0),
)
def test_flat_evidence_leaves_the_prior_and_the_pool_is_a_distribution(weights, flat, w):
    prior = {str(i): v / sum(weights) for i, v in enumerate(weights)}
    assert pooled(prior, dict.fromkeys(prior, flat), w) == pytest.approx(prior)
    skewed = {k: 1.0 + i for i, k in enumerate(prior)}
    mixed = pooled(prior, skewed, w)
    assert sum(mixed.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in mixed.values())


def test_batch_calibration_divides_each_answer_by_the_batch_mean():
    # Mean yes 0.8, mean no 0.2: 0.9/0.8 against 0.1/0.2, and 0.7/0.8 against 0.3/0.2.
    first, second, missing = batch_calibrated(
        [{"yes": 0.9, "no": 0.1}, {"yes": 0.7, "no": 0.3}, None]
    )
    assert first["yes"] == pytest.approx(1.125 / 1.625)
    assert second["yes"] == pytest.approx(0.875 / 2.375)
    assert missing is None
    # A running mean carries over: a later batch of one is measured against both.
    running = AnswerMean()
    batch_calibrated([{"yes": 0.9, "no": 0.1}], running)
    (alone,) = batch_calibrated([{"yes": 0.7, "no": 0.3}], running)
    assert alone["yes"] == pytest.approx(0.875 / 2.375)
    assert batch_calibrated([{"yes": 0.7, "no": 0.3}])[0]["yes"] == pytest.approx(0.5)


def test_pooled_yes_adds_the_llm_s_calibrated_log_odds_to_the_prior():
    prior = np.array([0.5, 0.5, 0.8])
    answers = np.array([0.9, 0.7, np.nan])
    pooled_answers = pooled_yes(prior, answers, 1.0)
    # A prior of one half is neutral: what is left is the batch-calibrated answer.
    assert pooled_answers[:2] == pytest.approx([1.125 / 1.625, 0.875 / 2.375])
    assert pooled_answers[2] == 0.8  # no answer: the prior stands
    # Weight 2 doubles the evidence's log-odds: logit = 2·log(1.125/0.5).
    assert pooled_yes(prior, answers, 2.0)[0] == pytest.approx(
        1 / (1 + math.exp(-2 * math.log(1.125 / 0.5)))
    )


def choices(policy, run_dir, pages=(1,), **overrides):
    # First pages of one step: later pages and steps depend on the ratings (the LLM's on
    # routed pages) and on whether a visit goes on, which the pool does not decide.
    world = run(policy, run_dir=run_dir, steps=1, utility={"no_click": -1.0}, **overrides)
    log = read_interactions(run_dir)
    watched = log[(log["action"] == "watch") & log["page"].isin(pages)]
    return world, list(zip(watched["step"], watched["user_id"], watched["item_id"], strict=True))


def test_zero_llm_weight_keeps_the_utility_model_s_choices_on_routed_pages(tmp_path):
    # A wide band routes many pages, so a heavy weight has pages to sway.
    choice = {"llm.decisions": "choice", "hybrid.band": 0.4}
    _, alone = choices("utility", tmp_path / "utility", **choice)
    kept, pooled_out = choices("hybrid", tmp_path / "w0", **choice, **{"hybrid.llm_weight": 0.0})
    assert kept.policy.routed > 0 and kept.llm.stats.calls > 0
    assert pooled_out == alone
    # A heavy weight hands routed pages to the (batch-calibrated) LLM.
    heavy = {"hybrid.llm_weight": 20.0}
    _, swayed = choices("hybrid", tmp_path / "w20", pages=(1, 2, 3), **choice, **heavy)
    assert swayed != choices("utility", tmp_path / "all", pages=(1, 2, 3), **choice)[1]
