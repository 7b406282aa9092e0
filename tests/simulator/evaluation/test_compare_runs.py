"""Closed-loop comparison: metrics read from run directories, paired differences, and
exactly reproducible runs of one recommender per world."""

import json

import numpy as np
import pandas as pd
import pytest

from scenarios.loader import load_scenario
from simulator.compose.compare import compare
from simulator.config import RunConfig
from simulator.errors import RecworldError
from simulator.evaluation.closed_loop import METRICS, entropy_curve, run_metrics
from simulator.evaluation.paired import summarise
from simulator.recommenders.registry import check_recommender_names
from simulator.runlog import RunLog, read_interactions, read_log
from simulator.stats import gini, mean_ci
from simulator.types import Event, Interaction, Reaction

W, S = Reaction.WATCH, Reaction.SKIP


def _row(step, user, item, page, action, rating=None):
    return Interaction(step, user, item, page, 1, "rec", action, rating)


@pytest.fixture
def hand_run(tmp_path):
    """Three steps written by hand: two visits, then one, then nobody."""
    log = RunLog(tmp_path / "run")
    log.write_config(RunConfig(name="hand", steps=3).model_dump(mode="json"))
    log.append_interactions(
        1,
        [
            _row(1, "u1", "i1", 1, W, 4.0),
            _row(1, "u1", "i2", 1, S),
            _row(1, "u1", "i3", 2, S),
            _row(1, "u2", "i1", 1, S),
            _row(1, "u2", "i2", 1, S),
        ],
    )
    log.append_interactions(2, [_row(2, "u1", "i1", 1, W, 2.0), _row(2, "u1", "i3", 1, W)])
    log.append_interactions(3, [])
    log.append_events(
        1,
        [
            Event(1, "exit", "u1", value=2, text="page limit"),
            Event(1, "exit", "u2", value=1, text="chose to leave"),
            Event(1, "interview", "u1", value=8, text="good"),
            Event(1, "interview", "u2", value=4, text="dull"),
            Event(1, "search", "u2", text="space opera"),
        ],
    )
    log.append_events(2, [Event(2, "exit", "u1", value=1, text="chose to leave")])
    log.append_events(3, [])
    frame = {"step": [], "user_id": [], "arm": [], "exposure_entropy": [], "watched_entropy": []}
    for step, user, entropy in [(1, "u1", 1.0), (1, "u2", 0.0), (2, "u1", 2.0)]:
        for key, value in zip(frame, (step, user, "rec", entropy, 0.0), strict=True):
            frame[key].append(value)
    users = pd.DataFrame(frame)
    for step in (1, 2, 3):
        log.append_users(step, users[users["step"] == step])
    log.write_metrics(pd.DataFrame({"step": [1, 2, 3]}))
    totals = {"calls": 7, "prompt_tokens": 100, "completion_tokens": 20}
    log.write_llm_stats({"backend": "scripted", "totals": totals, "per_step": []})
    return log.dir


def test_run_metrics_by_hand(hand_run):
    m = run_metrics(hand_run, catalogue_items=5)
    assert (m["steps"], m["visits"], m["exposures"], m["watches"]) == (3, 3, 7, 3)
    assert m["ctr"] == pytest.approx(3 / 7)
    assert m["watch_rate"] == pytest.approx(2 / 3)  # u1 watched in both visits, u2 never
    assert m["mean_rating"] == pytest.approx(3.0)  # the unrated watch does not count
    assert m["pages_per_visit"] == pytest.approx(4 / 3)
    assert m["page_limit_share"] == pytest.approx(1 / 3)
    assert m["interview_score"] == pytest.approx(6.0)
    assert m["final_entropy"] == 2.0  # nobody visited in step 3: step 2's mean
    assert m["exposure_gini"] == pytest.approx(gini([3, 2, 2, 0, 0]))
    assert m["llm_tokens"] == 120 and m["llm_calls"] == 7
    assert set(METRICS) <= set(m)


def test_gini_counts_never_shown_items_and_curve_keeps_empty_steps(hand_run):
    shown_only = run_metrics(hand_run)["exposure_gini"]
    assert shown_only == pytest.approx(gini([3, 2, 2]))
    assert run_metrics(hand_run, catalogue_items=50)["exposure_gini"] > shown_only
    with pytest.raises(ValueError, match="catalogue_items"):
        run_metrics(hand_run, catalogue_items=2)
    curve = entropy_curve(hand_run)
    assert list(curve.index) == [1, 2, 3]
    assert curve.iloc[:2].tolist() == [0.5, 2.0] and np.isnan(curve.iloc[2])


def test_missing_llm_stats_names_the_file(hand_run):
    (hand_run / "llm_stats.json").unlink()
    with pytest.raises(RecworldError, match=r"llm_stats\.json"):
        run_metrics(hand_run)


def _runs(values):
    """A runs table: {recommender: {seed: value}} for every metric."""
    rows = [
        {"recommender": rec, "seed": seed, **dict.fromkeys(METRICS, v)}
        for rec, by_seed in values.items()
        for seed, v in by_seed.items()
    ]
    return pd.DataFrame(rows)


def test_paired_differences_pair_by_seed():
    # A large seed effect shared by both recommenders and a steady +1 advantage for b.
    a = {0: 10.0, 1: 20.0, 2: 30.0, 3: 40.0}
    b = {3: 41.5, 1: 20.5, 0: 11.0, 2: 31.0}  # rows in another order: pairing is by seed
    runs = _runs({"a": a, "b": b}).sample(frac=1, random_state=0)
    summary = summarise(runs, ["a", "b"])
    row = summary[(summary["recommender"] == "b") & (summary["versus"] == "a")].iloc[0]
    expected = mean_ci([1.0, 0.5, 1.0, 1.5])
    assert row["mean"] == pytest.approx(expected.mean) and row["n"] == 4
    assert (row["low"], row["high"]) == pytest.approx((expected.low, expected.high))
    assert row["low"] > 0  # paired: the shared seed effect cancels
    unpaired = mean_ci(list(b.values())).low - mean_ci(list(a.values())).high
    assert unpaired < 0  # the two marginal intervals overlap widely
    absolute = summary[(summary["recommender"] == "a") & (summary["versus"] == "")]
    assert len(absolute) == len(METRICS)
    assert absolute.iloc[0]["mean"] == pytest.approx(25.0)


def test_paired_differences_skip_seeds_without_a_value():
    runs = _runs({"a": {0: 1.0, 1: 2.0, 2: np.nan}, "b": {0: 2.0, 1: 4.0, 2: 5.0}})
    row = summarise(runs, ["a", "b"]).query("versus == 'a'").iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(1.5)


def test_check_recommender_names():
    assert check_recommender_names([" als", "mmr "]) == ["als", "mmr"]
    with pytest.raises(ValueError, match=r"'magic'.*most-popular"):
        check_recommender_names(["als", "magic"])
    with pytest.raises(ValueError, match="twice"):
        check_recommender_names(["als", "als"])
    with pytest.raises(ValueError, match="no recommender"):
        check_recommender_names(["", " "])


def test_compare_names_the_bad_recommender(tmp_path):
    with pytest.raises(RecworldError, match=r"recommenders: unknown recommender 'magic'"):
        compare(_tiny("filter-bubble"), ["magic"], 1, out_dir=tmp_path)


def test_single_recommender_clears_arms_and_switches():
    sc = load_scenario(
        "filter-bubble", switches=[{"at_step": 3, "recommender": {"name": "random"}}]
    )
    assert sc.arms and sc.switches
    one = sc.with_one_recommender("item-knn", 9)
    assert one.arms == [] and one.switches == []
    assert one.recommender.name == "item-knn" and one.recommender.params == {}
    assert one.seed == 9 and one.steps == sc.steps and one.dataset == sc.dataset
    assert sc.arms, "the original scenario is unchanged"


def _tiny(name, **overrides):
    return load_scenario(name, steps=3, **{"population.size": 12, **overrides})


@pytest.fixture(scope="module")
def popularity_vs_random(tmp_path_factory):
    """One small serial comparison (utility policy, no LLM), shared by the tests below."""
    out = tmp_path_factory.mktemp("fb")
    return compare(_tiny("filter-bubble"), ["most-popular", "random"], 2, out_dir=out)


def test_compare_serves_one_recommender_to_the_same_population(popularity_vs_random):
    result, out = popularity_vs_random, popularity_vs_random.out_dir
    assert result.seeds == [3, 4] and result.baseline == "most-popular"
    assert list(result.runs["run_dir"]) == [
        "most-popular/seed-3",
        "most-popular/seed-4",
        "random/seed-3",
        "random/seed-4",
    ]
    for rec in ("most-popular", "random"):
        run = out / rec / "seed-3"
        assert set(read_interactions(run)["recommender"]) == {rec}
        assert "arms: []" in (run / "config.yaml").read_text()
    # Same seed, same visitors: the comparison is paired (no churn in this scenario).
    visits = [
        read_log(out / rec / "seed-3", "users.parquet")[["step", "user_id"]]
        for rec in ("most-popular", "random")
    ]
    pd.testing.assert_frame_equal(visits[0], visits[1])
    assert len(result.summary) == len(METRICS) * 3  # two recommenders, one difference
    assert set(result.curves["step"]) == {1, 2, 3}
    saved = json.loads((out / "summary.json").read_text())
    assert saved["differences"]["random"]["ctr"]["n"] == 2
    assert saved["metrics"]["random"]["interview_score"]["mean"] is None  # utility policy
    for name in ("runs.csv", "summary.csv", "entropy_curves.csv"):
        assert (out / name).exists()
    with pytest.raises(RecworldError, match="already holds a run"):
        compare(_tiny("filter-bubble"), ["most-popular"], 1, out_dir=out)


def test_parallel_runs_match_serial_ones(popularity_vs_random, tmp_path):
    """Worker processes (spawned: fresh hash seeds, fresh module state) change nothing."""
    compare(_tiny("filter-bubble"), ["most-popular", "random"], 2, out_dir=tmp_path, jobs=2)
    serial = (popularity_vs_random.out_dir / "runs.csv").read_bytes()
    assert (tmp_path / "runs.csv").read_bytes() == serial


def test_same_command_same_runs_with_llm_decisions(tmp_path):
    sc = _tiny("cold-start")  # LLM policy (scripted): interviews, tokens, LLM re-ranking
    recs = ["item-knn", "llm-rerank"]
    first = compare(sc, recs, 1, out_dir=tmp_path / "a")
    compare(sc, recs, 1, out_dir=tmp_path / "b")
    csv = (tmp_path / "a" / "runs.csv").read_bytes()
    assert csv == (tmp_path / "b" / "runs.csv").read_bytes()
    assert (first.runs["interview_score"] > 0).all() and (first.runs["llm_tokens"] > 0).all()
    assert first.runs.loc[1, "llm_calls"] > first.runs.loc[0, "llm_calls"]  # it ranks with the LLM
