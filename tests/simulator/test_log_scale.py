"""Every rating a run logs is on the dataset's own scale, whichever policy rated.

The LLM answers in 1-5 stars and the uncalibrated utility model rates on 1-5 levels; the
log, the recommenders and the item agents read the dataset's levels (1-10 here).
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.actions import PageObservation
from agents.actions.browse import BrowseAction
from agents.actions.interview import VisitSummary
from agents.actions.pick import PickAction
from agents.item import ItemAgent
from agents.profile import ItemProfile, UserProfile
from agents.user import UserAgent
from agents.utility import UtilityModel, UtilityPolicy
from scenarios.datasets import load_dataset
from scenarios.loader import load_scenario
from simulator.compose import open_world
from simulator.dataset import rating_scale
from simulator.ratings import STEPS, RatingScale, logged, stars_to_levels
from simulator.recommenders.content import ContentRecommender
from simulator.runlog import read_interactions
from simulator.types import Interaction, LLMResponse, Reaction

TEN = RatingScale(1.0, 10.0, 1.0)


def star_level(scale: RatingScale, star: int) -> float:
    """The level a star lands on, by a scan: nearest to low + (star - 1)(high - low)/4,
    the higher one on a tie."""
    point = scale.low + (star - 1) * (scale.high - scale.low) / 4
    return float(min(scale.levels, key=lambda v: (round(abs(v - point), 9), -v)))


def test_stars_on_common_scales():
    assert [TEN.from_stars(s) for s in range(1, 6)] == [1.0, 3.0, 6.0, 8.0, 10.0]
    halves = RatingScale(0.5, 5.0, 0.5)
    assert [halves.from_stars(s) for s in range(1, 6)] == [0.5, 1.5, 3.0, 4.0, 5.0]
    assert [RatingScale(1.0, 5.0, 1.0).from_stars(s) for s in range(1, 6)] == [1, 2, 3, 4, 5]
    assert logged(4, None) == 4.0 and logged(4, TEN) == 8.0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STEPS), st.integers(-20, 20), st.integers(1, 40), st.integers(1, 5))
def test_a_star_lands_where_the_suite_puts_its_probability(step, start, span, star):
    """``from_stars`` agrees with the scan and with ``stars_to_levels`` (which moves a whole
    star distribution), and a scale's own levels pass through ``placed`` unchanged."""
    scale = RatingScale(start * 0.5, start * 0.5 + span * step, step)
    assert scale.from_stars(star) == pytest.approx(star_level(scale, star))
    one_hot = np.eye(5)[star - 1][None, :]
    moved = stars_to_levels(one_hot, scale.levels)[0]
    assert scale.levels[int(np.argmax(moved))] == pytest.approx(scale.from_stars(star))
    levels = scale.levels
    assert np.allclose(scale.placed(levels, scale.low, scale.high), levels)


# -- each policy -------------------------------------------------------------------------


def _agent() -> UserAgent:
    return UserAgent(mesa.Model(seed=0), UserProfile(user_id="u", favourite_genres=("Drama",)))


def _page() -> PageObservation:
    items = tuple(ItemProfile(item_id=f"i{k}", title=f"Film {k}") for k in range(3))
    return PageObservation(
        step=1, page=1, items=items, recommender="pop", memories=(), draws=(0.0, 0.5, 0.0)
    )


@pytest.mark.parametrize("star", [1, 2, 3, 4, 5])
def test_the_llm_pick_logs_the_level_and_remembers_the_star(star):
    action, agent, page = PickAction(scale=TEN), _agent(), _page()
    picked = action.apply(agent, page, LLMResponse(text="1", choice_probs={"0": 0, "1": 1}))
    rate = {str(s): float(s == star) for s in range(1, 6)}
    outcome = action.resolve(agent, page, picked, LLMResponse(text=str(star), choice_probs=rate))
    watched = [r for r in outcome.interactions if r.action is Reaction.WATCH]
    assert [r.rating for r in watched] == [star_level(TEN, star)]
    assert outcome.memories[0].text.endswith(f", {star}/5")


def test_the_llm_browse_logs_the_level():
    agent, page = _agent(), _page()
    decision = {"watched": [{"position": 2, "rating": 4, "reason": "x"}], "feeling": "",
                "next_page": False}  # fmt: skip
    schema = BrowseAction().request(agent, page).schema
    response = LLMResponse(text="", parsed=schema.model_validate(decision))
    outcome = BrowseAction(scale=TEN).apply(agent, page, response)
    assert [r.rating for r in outcome.interactions if r.action is Reaction.WATCH] == [8.0]
    stars = BrowseAction().apply(agent, page, response)
    assert [r.rating for r in stars.interactions if r.action is Reaction.WATCH] == [4.0]


def test_the_uncalibrated_utility_model_logs_on_the_data_s_levels(ten_point):
    data = load_dataset("csv", ten_point)
    model = UtilityModel.from_dataset(data)
    assert model.params.rating_levels == (1.0, 2.0, 3.0, 4.0, 5.0)
    pairs, onto = _ratings_with_and_without(model, data, TEN)
    assert pairs, "no watches to compare"
    assert all(b == star_level(TEN, int(a)) for a, b in pairs)
    texts = [m.text for o in onto for m in o.memories if "watched" in m.text]
    assert texts and all(t.endswith("/10") for t in texts)


def _ratings_with_and_without(model: UtilityModel, data, scale: RatingScale):
    """(rating as the model gives it, rating logged with ``scale``) per watch of twelve
    users' pages, and the outcomes with the scale."""
    agents = [UserAgent(mesa.Model(seed=0), UserProfile(user_id=f"u{n}")) for n in range(12)]
    pages = [_page_of(data, n) for n in range(12)]
    own = UtilityPolicy(model, seed=0).decide(agents, pages)
    onto = UtilityPolicy(model, seed=0, scale=scale).decide(agents, pages)
    pairs = [
        (a.rating, b.rating)
        for x, y in zip(own, onto, strict=True)
        for a, b in zip(x.interactions, y.interactions, strict=True)
        if a.action is Reaction.WATCH
    ]
    return pairs, onto


def _page_of(data, n: int) -> PageObservation:
    items = tuple(ItemProfile(item_id=i, title=i) for i in data.items["item_id"][:4])
    rng = np.random.default_rng(n)
    return PageObservation(1, 1, items, "pop", (), tuple(rng.random(3)))


# -- what reads the log ------------------------------------------------------------------


def _row(user: str, rating: float | None, action: Reaction = Reaction.WATCH) -> Interaction:
    return Interaction(1, user, "i1", 1, 1, "rec", action, rating, "because")


def test_an_item_reads_liked_and_disliked_on_the_log_s_scale():
    item = ItemAgent(mesa.Model(seed=0), ItemProfile(item_id="i1", title="Heat"), TEN)
    fan = UserProfile(user_id="u1", favourite_genres=("Drama",))
    outsider = UserProfile(user_id="u3", favourite_genres=("Musical",))
    item.observe(_row("u0", 9.0), fan)
    assert item.observe(_row("u1", 6.0), fan)[1] is None  # 6/10 is three stars: neither
    assert item.observe(_row("u3", 7.0), outsider)[1] is None  # 7/10 is not liked
    _, clash = item.observe(_row("u1", 3.0), fan)  # 3/10 is disliked
    assert clash is not None and "should have liked" in clash.expected
    assert "rated it 3/10" in item.correction_request(clash).messages[-1].content
    stranger = UserProfile(user_id="u4", favourite_genres=("Western",))
    _, loved = item.observe(_row("u4", 8.0), stranger)  # 8/10 is liked
    assert loved is not None and "fans of" in loved.expected


def test_a_visit_summary_shows_ratings_out_of_the_scale_s_top():
    watched = ((ItemProfile(item_id="i", title="Heat"), 8.0),)
    assert "you rated it 8/10" in VisitSummary(1, 1, watched, 0, top=10.0).describe()
    assert "you rated it 4/5" in VisitSummary(1, 1, ((watched[0][0], 4.0),), 0).describe()


def test_the_content_recommender_likes_from_the_data_s_scale(ten_point, tmp_path):
    data = load_dataset("csv", ten_point)
    rec = ContentRecommender()
    rec.fit(data)
    assert rec._like_at == 8.0
    liked = rec._liked[rec._user_index["a"]].indices
    assert sorted(rec.item_ids[i] for i in liked) == ["i0", "i1"]
    rec.save(tmp_path / "content")
    back = ContentRecommender().load(tmp_path / "content")
    assert back._like_at == 8.0  # a resumed run keeps reading the log on its scale
    assert back.recommend(["a"], 5) == rec.recommend(["a"], 5)


@pytest.mark.parametrize("policy", ["llm", "utility", "hybrid"])
def test_a_run_on_ten_point_data_logs_ten_point_ratings(ten_point, tmp_path, policy):
    folder = ten_point
    config = load_scenario(
        "quickstart",
        **{
            "policy": policy,
            "dataset.kind": "csv",
            "dataset.path": str(folder),
            "dataset.options": {},
            "population.size": 13,
            "steps": 3,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
        },
    )
    assert rating_scale(load_dataset("csv", folder)) == TEN
    with open_world(config, seed=0, run_dir=tmp_path / "run") as world:
        world.run()
    rows = read_interactions(tmp_path / "run")
    ratings = pd.to_numeric(rows.loc[rows["action"] == "watch", "rating"])
    assert len(ratings) and set(ratings) <= {1.0, 3.0, 6.0, 8.0, 10.0}
    assert (ratings > 5).any()


def test_the_report_bins_ratings_on_the_data_s_levels():
    from simulator.report import measures

    halves = RatingScale(0.0, 10.0, 0.5)
    values = measures.rating_scale(np.array([2.5, 7.5]), scale=halves)
    assert values.tolist() == [k / 2 for k in range(21)]
    shares = measures.rating_shares(np.array([2.5, 7.5, 7.5, np.nan]), values)
    expected = np.zeros(21)
    expected[[5, 15]] = [1 / 3, 2 / 3]
    assert shares.n == 3 and np.allclose(shares.shares, expected)
    # Without the dataset, the samples' own scale; without a regular step, whole numbers.
    assert measures.rating_scale(np.array([2.5, 4.0, 5.0])).tolist() == [2.5, 3, 3.5, 4, 4.5, 5]
    assert measures.rating_scale(np.array([1.372, 2.9])).tolist() == [1.0, 2.0, 3.0]
    stars = measures.rating_shares(np.array([1, 2, 2, 5]), np.arange(1.0, 6.0)).shares
    assert stars.tolist() == [0.25, 0.5, 0.0, 0.0, 0.25]


def test_data_info_shows_the_scale_and_how_much_is_rated(ten_point):
    from typer.testing import CliRunner

    from simulator.cli import app

    frame = pd.read_csv(ten_point / "interactions.csv")
    frame.loc[::4, "rating"] = np.nan  # a quarter unrated
    frame.to_csv(ten_point / "interactions.csv", index=False)
    result = CliRunner().invoke(app, ["data", "info", str(ten_point), "--kind", "csv"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in result.output.splitlines() if line.count("│") == 3}  # fmt: skip
    assert lines["rated interactions"] == str(int(frame["rating"].notna().sum()))
    assert lines["rating scale"] == "1 to 10 in steps of 1"


def test_scales_in_tens_and_fives_are_found():
    from simulator.ratings import scale_of

    assert scale_of(np.arange(10.0, 101.0, 10.0)) == RatingScale(10.0, 100.0, 10.0)
    assert scale_of(np.array([0.0, 5.0, 35.0, 100.0])) == RatingScale(0.0, 100.0, 5.0)
    assert scale_of(np.array([0.0, 5.0, 37.0, 100.0])) == RatingScale(0.0, 100.0, 1.0)
    assert scale_of(np.array([0.0, 5.0, 10.0]), (0.0, 10.0)) == RatingScale(0.0, 10.0, 5.0)
    assert scale_of(np.array([7.0, 7.0])) is None  # one value for everything: no scale
    assert scale_of(np.array([np.nan])) is None


def test_negative_levels_are_logged_not_taken_for_no_click(ten_point):
    data = load_dataset("csv", ten_point)
    model = UtilityModel.from_dataset(data)
    levels = (-2.0, -1.0, 0.0, 1.0, 2.0)  # as calibrated on a -2..2 scale
    model = model.with_params(model.params.model_copy(update={"rating_levels": levels}))
    logged_ratings, _ = _ratings_with_and_without(model, data, RatingScale(-2.0, 2.0, 1.0))
    assert logged_ratings and all(a == b for a, b in logged_ratings)  # same scale: as is
    assert any(a < 0 for a, _ in logged_ratings)


def test_an_old_content_checkpoint_keeps_a_configured_threshold(ten_point, tmp_path):
    from simulator.recommenders.content import ContentConfig

    rec = ContentRecommender(ContentConfig(like_threshold=5.5))
    rec.fit(load_dataset("csv", ten_point))
    rec.save(tmp_path / "content")
    with np.load(tmp_path / "content" / "state.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != "state_like_at"}
    np.savez(tmp_path / "content" / "state.npz", **arrays)  # as written before the key
    assert ContentRecommender().load(tmp_path / "content")._like_at == 5.5
