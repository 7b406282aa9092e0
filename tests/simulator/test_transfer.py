"""The transfer measure: synthetic logs from the utility policy, recommenders trained on them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from scenarios.datasets import generate_synthetic, load_dataset
from simulator.cli import app
from simulator.dataset import INTERACTION_COLUMNS
from simulator.fidelity import run_fidelity
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.floors import RecommenderFloor
from simulator.fidelity.transfer import TransferConfig, simulate_logs, transfer_table

SMALL = CaseConfig(users=12, positives=2, rated=4, multiples=(1, 3), min_history=5, seed=3)
FAST = TransferConfig(recommenders=("item-knn", "most-popular"))


@pytest.fixture(scope="module")
def cases():
    data = generate_synthetic(n_users=80, n_items=150, history_per_user=25, seed=1)
    return build_cases(data, SMALL)


@pytest.fixture(scope="module")
def logs(cases):
    return simulate_logs(cases, FAST)


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["user_id"].astype(str), frame["item_id"].astype(str), strict=True))


def test_logs_have_the_interaction_columns_and_the_real_size_per_user(cases, logs):
    real = cases.train.interactions.groupby("user_id").size()
    for log in (logs.utility, logs.popularity):
        assert list(log.columns) == list(INTERACTION_COLUMNS)
        assert not log.duplicated(["user_id", "item_id"]).any()
        assert log.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()
    simulated = logs.utility.groupby("user_id").size().reindex(real.index, fill_value=0)
    assert (simulated == real).all()
    # The popularity log keeps (nearly) every page's watch.
    assert len(logs.popularity) >= 0.97 * len(logs.utility)
    levels = set(np.arange(1.0, 6.0))
    assert set(logs.utility["rating"]) <= levels
    assert logs.popularity["rating"].isna().all()


def test_logs_are_seeded(cases, logs):
    again = simulate_logs(cases, FAST)
    pd.testing.assert_frame_equal(again.utility, logs.utility)
    pd.testing.assert_frame_equal(again.popularity, logs.popularity)
    other = simulate_logs(cases, TransferConfig(recommenders=FAST.recommenders, seed=1))
    assert pairs(other.utility) != pairs(logs.utility)


def test_no_user_watches_a_held_out_or_already_seen_item(cases, logs):
    frames = (cases.discrimination, cases.ranking, cases.rating)
    held = pd.concat([frame[["user_id", "item_id"]] for frame in frames])
    held_pairs, train_pairs = pairs(held), pairs(cases.train.interactions)
    for log in (logs.utility, logs.popularity):
        watched = pairs(log)
        assert not watched & held_pairs
        assert not watched & train_pairs


def test_popularity_picks_follow_popularity(cases, logs):
    counts = cases.popularity
    picked = logs.popularity["item_id"].value_counts().reindex(counts.index, fill_value=0)
    assert spearmanr(picked.to_numpy(), counts.to_numpy()).statistic > 0.7


def test_fixed_visits_and_a_user_sample(cases):
    config = TransferConfig(visits=20, users=30, recommenders=FAST.recommenders)
    logs = simulate_logs(cases, config)
    assert logs.visits == 30 * 20
    users = set(logs.utility["user_id"]) | set(logs.popularity["user_id"])
    assert len(users) <= 30 and users <= set(cases.train.users["user_id"].astype(str))
    # A sample no larger than the held-out users is the held-out users.
    only = simulate_logs(cases, TransferConfig(visits=20, users=1, recommenders=("item-knn",)))
    assert only.visits == len(cases.users) * 20
    assert set(only.utility["user_id"]) <= set(cases.users)


def test_the_table_has_a_row_per_recommender_log_and_negatives(cases, logs):
    table = transfer_table(cases, FAST, logs=logs)
    assert len(table) == 2 * 3 * 2
    assert set(table["log"]) == {"real", "utility", "popularity"}
    real = table[table["log"] == "real"]
    assert np.allclose(real["ratio"], 1.0)
    assert table["ndcg@10"].between(0, 1).all()
    assert (table["n"] == len(cases.users)).all()


def test_the_real_log_row_repeats_the_suites_item_knn_floor(cases):
    setup = TransferConfig(recommenders=("item-knn",), seed=SMALL.seed)
    report = run_fidelity(
        cases.train,
        [RecommenderFloor("item-knn", seed=SMALL.seed)],
        SMALL,
        cases=cases,
        behaviour=False,
        transfer=setup,
    )
    real = report.transfer[report.transfer["log"] == "real"].set_index("negatives")
    floor = report.ranking.set_index("negatives")
    for kind in ("uniform", "popularity"):
        assert real.loc[kind, "ndcg@10"] == pytest.approx(floor.loc[kind, "ndcg@10"])
    assert report.config["transfer"]["recommenders"] == ["item-knn"]
    simulated = report.config["transfer"]["simulated"]
    assert simulated["watches"] == len(cases.train.interactions)
    assert simulated["pages"] >= simulated["visits"] > 0


def test_report_writes_the_transfer_table(cases, tmp_path):
    report = run_fidelity(
        cases.train,
        [RecommenderFloor("random")],
        SMALL,
        cases=cases,
        behaviour=False,
        transfer=FAST,
    )
    report.write(tmp_path)
    written = pd.read_csv(tmp_path / "transfer.csv")
    assert len(written) == len(report.transfer) == 12
    assert len(json.loads((tmp_path / "fidelity.json").read_text())["transfer"]) == 12
    off = run_fidelity(cases.train, [RecommenderFloor("random")], SMALL, cases=cases)
    assert off.transfer.empty and off.config["transfer"] is None


def test_cli_prints_the_transfer_table(tmp_path):
    out = tmp_path / "fid"
    result = CliRunner().invoke(
        app,
        ["fidelity", "--data", "synthetic", "--users", "8", "--positives", "2", "--rated",
         "3", "--multiples", "1", "--floors", "none", "--no-behaviour", "--transfer",
         "--transfer-recommenders", "item-knn", "--transfer-users", "40", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "transfer" in result.output and "popularity" in result.output
    assert (out / "transfer.csv").is_file()
    assert json.loads((out / "fidelity.json").read_text())["config"]["transfer"]["users"] == 40
    for args, message in (
        (["--transfer-recommenders", "nope"], "--transfer-recommenders"),
        (["--transfer-users", "0"], "users must be at least 1"),
    ):
        bad = CliRunner().invoke(app, ["fidelity", "--data", "synthetic", *args])
        assert bad.exit_code == 2 and message in bad.output


@pytest.mark.data
@pytest.mark.slow
def test_item_knn_on_the_simulated_ml100k_log_keeps_most_of_its_accuracy(shared_data):
    """Measured: 0.85 of the real log's NDCG@10 with uniform negatives (0.79 with
    popularity-matched ones, where the popularity log's 0.60 is the floor). About 40 s:
    the log has as many watches as the real one, about 1.5M pages."""
    data = load_dataset("movielens-100k", shared_data / "ml-100k")
    cases = build_cases(data, CaseConfig(users=100))
    table = transfer_table(cases, TransferConfig(recommenders=("item-knn",)))
    utility = table[table["log"] == "utility"].set_index("negatives")
    popularity = table[table["log"] == "popularity"].set_index("negatives")
    assert utility.loc["uniform", "ratio"] >= 0.8
    assert utility.loc["popularity", "ndcg@10"] > popularity.loc["popularity", "ndcg@10"]


def test_each_pairs_preference_is_scored_once_and_is_the_models(cases):
    """The simulation keeps each (user, item) logit: a page of items shown before costs
    no scoring, and the kept value is what the model says."""
    from agents.utility import UtilityModel
    from simulator.fidelity.transfer import _Preferences

    model = UtilityModel.from_dataset(cases.train)
    rng = np.random.default_rng(0)  # simulated users and catalogue items map to model rows
    user_rows = rng.permutation(len(model.user_index))[:10]
    item_rows = rng.permutation(len(model.item_index))[:40]
    kept = _Preferences(model, user_rows, item_rows)
    asked: list[int] = []
    preference = model.preference
    model.preference = lambda users, items: asked.append(len(users)) or preference(users, items)
    users = np.array([0, 3, 3, 9])
    items = np.array([[1, 2, 1], [5, 5, 6], [5, 7, 8], [39, 0, 2]])
    first = kept.of(users, items)
    assert asked == [9]  # distinct pairs only: (0, 1) twice, (3, 5) three times
    np.testing.assert_allclose(first, preference(user_rows[users], item_rows[items]))
    again = kept.of(users[::-1], items[::-1])
    assert asked == [9]
    np.testing.assert_array_equal(again, first[::-1])


def test_without_kept_logits_the_logs_are_the_same(cases, logs, monkeypatch):
    """Past ``KEPT_PREFERENCES`` pairs every page is scored afresh, to the same choices."""
    from simulator.fidelity import transfer

    monkeypatch.setattr(transfer, "KEPT_PREFERENCES", 0)
    fresh = simulate_logs(cases, FAST)
    pd.testing.assert_frame_equal(fresh.utility, logs.utility)
    pd.testing.assert_frame_equal(fresh.popularity, logs.popularity)
