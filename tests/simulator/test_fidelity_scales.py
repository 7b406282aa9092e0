"""Rating scales, implicit data, outside cases and the fidelity split of calibration."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents.profile import UserProfile
from agents.utility import liked_rating
from scenarios.datasets import generate_synthetic
from simulator.calibration import CalibrationResult, calibrate
from simulator.cli import app
from simulator.dataset import Dataset, rating_scale
from simulator.fidelity import run_fidelity
from simulator.fidelity.case_files import CaseFileError, read_cases, write_cases
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.floors import RecommenderFloor
from simulator.fidelity.subjects import UtilitySubject
from simulator.ratings import STEPS, RatingScale, nearest_level, stars_to_levels
from simulator.stats import total_variation

SMALL = CaseConfig(users=10, positives=2, rated=4, multiples=(1, 3), min_history=5, seed=3)
HALVES = np.arange(0.5, 5.01, 0.5)


@pytest.fixture(scope="module")
def synthetic():
    return generate_synthetic(n_users=60, n_items=120, history_per_user=25, seed=1)


def _with_ratings(dataset: Dataset, ratings: np.ndarray, name: str) -> Dataset:
    inter = dataset.interactions.assign(rating=ratings)
    return Dataset(name, dataset.users, dataset.items, inter)


@pytest.fixture(scope="module")
def half_stars(synthetic):
    """The synthetic ratings moved onto half stars 0.5-5 (every other one half a star down)."""
    r = synthetic.interactions["rating"].to_numpy(float)
    shifted = np.clip(r - 0.5 * (np.arange(len(r)) % 2), 0.5, 5.0)
    return _with_ratings(synthetic, shifted, "halves")


# -- the scale --------------------------------------------------------------------------


def test_scales_of_whole_half_blank_and_implicit_data(synthetic, half_stars):
    assert rating_scale(synthetic) == RatingScale(1.0, 5.0, 1.0)
    assert rating_scale(half_stars) == RatingScale(0.5, 5.0, 0.5)
    assert rating_scale(half_stars).levels.tolist() == HALVES.tolist()
    r = synthetic.interactions["rating"].to_numpy(float).copy()
    r[::3] = np.nan
    assert rating_scale(_with_ratings(synthetic, r, "blank")) == RatingScale(1.0, 5.0, 1.0)
    assert rating_scale(_with_ratings(synthetic, np.nan, "implicit")) is None
    assert RatingScale(0.5, 5.0, 0.5).liked == 4.0 and RatingScale(1, 10, 1).liked == 8.0


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(STEPS),
    st.integers(-20, 20),
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
)
def test_the_scale_holds_every_rating(step, start, offsets):
    low = start * 0.5
    ratings = low + step * np.asarray(offsets, float)
    frame = pd.DataFrame({"user_id": "u", "item_id": "i", "timestamp": 0, "rating": ratings})
    items = pd.DataFrame({"item_id": ["i"], "title": ["i"], "genres": [()], "description": [""]})
    scale = rating_scale(Dataset("d", pd.DataFrame({"user_id": ["u"]}), items, frame))
    if len(set(offsets)) == 1:  # one value for everything is no scale: implicit feedback
        assert scale is None
        return
    assert scale.low == pytest.approx(ratings.min()) and scale.high == pytest.approx(ratings.max())
    assert scale.step >= step - 1e-12
    assert np.allclose(nearest_level(ratings, scale.levels), ratings)


def test_stars_go_to_the_nearest_level_in_order():
    assert np.array_equal(stars_to_levels(np.eye(5), np.arange(1.0, 6.0)), np.eye(5))
    mapped = stars_to_levels(np.eye(5), HALVES)
    # 0.5 + (s - 1) * 1.125 is 0.5, 1.625, 2.75, 3.875, 5: nearest 0.5, 1.5, 3 (tie up), 4, 5.
    assert [HALVES[row.argmax()] for row in mapped] == [0.5, 1.5, 3.0, 4.0, 5.0]
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=20)
    assert np.allclose(stars_to_levels(probs, HALVES).sum(axis=1), 1.0)


# -- calibration ------------------------------------------------------------------------


def test_calibration_with_blank_ratings_fits_the_rated_ones():
    data = generate_synthetic(n_users=150, n_items=150, seed=1)
    r = data.interactions["rating"].to_numpy(float).copy()
    r[::3] = np.nan  # a third of the log rated nothing (a blank CSV field)
    blank = _with_ratings(data, r, "blank")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = calibrate(blank, seed=0, n_users=150, fit_pages=1000, check_pages=2000)
    assert result.params.rating_affinity > 0 and result.params.rating_quality > 0
    assert result.tv_distance is not None and np.isfinite(result.tv_distance)
    assert result.tv_distance < 0.15  # 60 users: a small sample
    rated = pd.Series(r[np.isfinite(r)]).value_counts(normalize=True).sort_index()
    assert result.real_ratings == pytest.approx(tuple(rated.to_numpy()))


def test_half_star_calibration_compares_on_its_own_levels(half_stars):
    result = calibrate(half_stars, seed=0, n_users=60, fit_pages=1000, check_pages=2000)
    assert result.rating_levels == tuple(HALVES)
    real = half_stars.interactions["rating"].value_counts(normalize=True)
    assert result.real_ratings == pytest.approx(tuple(real.reindex(HALVES, fill_value=0)))
    assert result.tv_distance == pytest.approx(
        total_variation(result.real_ratings, result.simulated_ratings)
    )
    # The policy rates on the data's own half stars: every level is in use.
    assert result.params.rating_levels == tuple(HALVES)
    assert len(result.params.cutpoints) == len(HALVES) - 1
    assert all(share > 0 for share in result.simulated_ratings)
    assert result.tv_distance < 0.15  # 60 users: a small sample


# -- the suite on other scales and on implicit data ---------------------------------------


def test_half_star_rating_fidelity_bins_on_half_stars(half_stars):
    floor = RecommenderFloor("most-popular")
    report = run_fidelity(half_stars, [floor], SMALL, behaviour=False)
    assert report.config["rating_levels"] == HALVES.tolist()
    # Independently: the floor's point rating is the item's training mean on the nearest level.
    cases = build_cases(half_stars, SMALL)
    train = cases.train.interactions
    mean = cases.rating["item_id"].map(train.groupby("item_id")["rating"].mean())
    predicted = nearest_level(mean.fillna(train["rating"].mean()).to_numpy(), HALVES)
    row = report.rating.iloc[0]
    assert row["mae"] == pytest.approx(np.abs(cases.rating["rating"] - predicted).mean())
    assert row["mean_simulated"] == pytest.approx(predicted.mean())


def test_implicit_suite_skips_what_needs_ratings(synthetic, tmp_path):
    implicit = _with_ratings(synthetic, np.nan, "clicks")
    report = run_fidelity(implicit, [UtilitySubject(), RecommenderFloor("item-knn")], SMALL)
    assert report.rating.empty and report.rating_by_genre.empty
    assert len(report.discrimination) == 2 * 2 * len(SMALL.multiples)
    assert set(report.ranking["negatives"]) == {"uniform", "popularity"}
    assert set(report.behaviour["check"]) == {"mainstream-niche"}
    report.write(tmp_path)
    data = json.loads((tmp_path / "fidelity.json").read_text())
    assert any("rating fidelity is skipped" in note for note in data["notes"])
    assert data["config"]["rating_levels"] is None


# -- outside cases ----------------------------------------------------------------------


def test_written_cases_read_back_give_the_same_report(synthetic, tmp_path):
    def report(data, cases=None):
        subjects = [UtilitySubject(), RecommenderFloor("item-knn"), RecommenderFloor("random")]
        return run_fidelity(data, subjects, SMALL, cases=cases).to_json()

    drawn = build_cases(synthetic, SMALL)
    write_cases(drawn, tmp_path)
    first = json.loads((tmp_path / "discrimination.jsonl").read_text().splitlines()[0])
    assert set(first) == {"user_id", "negatives", "m", "items"}
    assert first["m"] == 1 and len(first["items"]) == 2 * SMALL.positives
    back = read_cases(tmp_path, drawn.train, SMALL)
    for table in ("discrimination", "ranking", "rating"):
        pd.testing.assert_frame_equal(getattr(back, table), getattr(drawn, table))
    a, b = report(synthetic), report(drawn.train, tmp_path)
    for table in ("discrimination", "ranking", "rating", "rating_by_genre", "behaviour"):
        assert a[table] == b[table]
    assert b["config"]["cases"] == str(tmp_path)


def test_given_cases_need_not_be_drawn_ones(synthetic, tmp_path):
    user, liked, _, unseen = _user_with_items(synthetic)
    train = _without(synthetic, [(user, liked)])
    (tmp_path / "ranking.jsonl").write_text(
        json.dumps({"user_id": user, "candidates": [unseen, liked], "target": liked}) + "\n"
    )
    report = run_fidelity(train, [RecommenderFloor("random")], SMALL, cases=tmp_path)
    assert report.ranking["negatives"].tolist() == ["given"] and report.ranking["n"].iloc[0] == 1
    assert report.discrimination.empty and report.rating.empty
    assert "no rating cases: rating fidelity is skipped" in report.notes


def _user_with_items(dataset: Dataset) -> tuple[str, str, str, str]:
    rows = dataset.interactions[dataset.interactions["user_id"] == dataset.user_ids[0]]
    seen = set(rows["item_id"])
    unseen = next(i for i in dataset.item_ids if i not in seen)
    return dataset.user_ids[0], rows["item_id"].iloc[0], rows["item_id"].iloc[1], unseen


def _without(dataset: Dataset, pairs: list[tuple[str, str]]) -> Dataset:
    keys = pd.MultiIndex.from_frame(dataset.interactions[["user_id", "item_id"]])
    inter = dataset.interactions[~keys.isin(pairs)].reset_index(drop=True)
    return Dataset(dataset.name, dataset.users, dataset.items, inter, meta=dataset.meta)


def _bad_lines(user: str, liked: str, unseen: str) -> list[tuple[str, str, str]]:
    ok_items = [{"item_id": liked, "label": True}, {"item_id": unseen, "label": False}]
    row = {"user_id": user, "negatives": "uniform", "m": 1, "items": ok_items}
    return [
        ("discrimination.jsonl", "{not json", "discrimination.jsonl line 1: not JSON"),
        ("discrimination.jsonl", json.dumps({**row, "m": 0}), "line 1, field m"),
        (
            "discrimination.jsonl",
            json.dumps({**row, "m": 3}),
            "line 1, field m: m = 3 means 3 negative",
        ),
        ("discrimination.jsonl", json.dumps({**row, "user_id": "nobody"}), "field user_id"),
        ("discrimination.jsonl", json.dumps({**row, "items": ok_items[:1]}), "field items"),
        (
            "discrimination.jsonl",
            json.dumps({**row, "items": [ok_items[0], {"item_id": "zz", "label": False}]}),
            "field items[1].item_id",
        ),
        (
            "ranking.jsonl",
            json.dumps({"user_id": user, "candidates": [unseen, liked], "target": "x"}),
            "field target",
        ),
        (
            "rating.jsonl",
            json.dumps({"user_id": user, "item_id": liked, "rating": 4.5}),
            "field rating",
        ),
    ]


def test_bad_case_files_name_the_file_line_and_field(synthetic, tmp_path):
    user, liked, _, unseen = _user_with_items(synthetic)
    train = _without(synthetic, [(user, liked)])
    for k, (name, line, message) in enumerate(_bad_lines(user, liked, unseen)):
        folder = tmp_path / str(k)
        folder.mkdir()
        (folder / name).write_text(line + "\n")
        with pytest.raises(CaseFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
            read_cases(folder, train)


def test_cases_held_in_the_training_data_are_left_out_of_it(synthetic, tmp_path):
    user, liked, _, _ = _user_with_items(synthetic)
    (tmp_path / "rating.jsonl").write_text(
        json.dumps({"user_id": user, "item_id": liked, "rating": 4}) + "\n"
    )
    inter = synthetic.interactions.astype({"user_id": str, "item_id": str})
    pair = (inter["user_id"] == user) & (inter["item_id"] == liked)
    cases = read_cases(tmp_path, synthetic)
    kept = cases.train.interactions.astype({"user_id": str, "item_id": str})
    assert cases.dropped == int(pair.sum()) >= 1
    assert len(kept) == len(inter) - cases.dropped
    assert not ((kept["user_id"] == user) & (kept["item_id"] == liked)).any()


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 59), st.integers(0, 119), st.integers(1, 5)),
        min_size=1,
        max_size=12,
        unique_by=lambda t: t[:2],
    )
)
def test_rating_files_round_trip(tmp_path_factory, rows):
    synthetic = generate_synthetic(n_users=60, n_items=120, history_per_user=25, seed=1)
    users, items = synthetic.user_ids, synthetic.item_ids
    pairs = [(users[u], items[i]) for u, i, _ in rows]
    train = _without(synthetic, pairs)
    folder = tmp_path_factory.mktemp("cases")
    (folder / "rating.jsonl").write_text(
        "".join(
            json.dumps({"user_id": u, "item_id": i, "rating": r}) + "\n"
            for (u, i), (_, _, r) in zip(pairs, rows, strict=True)
        )
    )
    cases = read_cases(folder, train)
    assert list(cases.rating.itertuples(index=False, name=None)) == [
        (u, i, float(r)) for (u, i), (_, _, r) in zip(pairs, rows, strict=True)
    ]
    again = tmp_path_factory.mktemp("again")
    write_cases(cases, again)
    pd.testing.assert_frame_equal(read_cases(again, train).rating, cases.rating)


# -- the command line -------------------------------------------------------------------


def _csv_folder(dataset: Dataset, folder) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    dataset.interactions[["user_id", "item_id", "rating", "timestamp"]].to_csv(
        folder / "interactions.csv", index=False
    )
    items = dataset.items.assign(genres=dataset.items["genres"].map("|".join))
    items[["item_id", "title", "genres"]].to_csv(folder / "items.csv", index=False)
    return str(folder)


def test_cli_writes_cases_and_answers_them(synthetic, tmp_path):
    data = _csv_folder(synthetic, tmp_path / "data")
    args = [
        "--users",
        "10",
        "--positives",
        "2",
        "--rated",
        "4",
        "--multiples",
        "1,3",
        "--min-history",
        "5",
        "--seed",
        "3",
        "--floors",
        "random",
        "--no-behaviour",
    ]
    first = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--data",
            data,
            *args,
            "--out",
            str(tmp_path / "a"),
            "--write-cases",
            str(tmp_path / "cases"),
        ],
    )
    assert first.exit_code == 0, first.output
    from simulator.cli.app import load_data

    drawn = build_cases(load_data(data), SMALL)
    train = tmp_path / "train"
    _csv_folder(drawn.train, train)
    second = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--data",
            str(train),
            *args,
            "--out",
            str(tmp_path / "b"),
            "--cases",
            str(tmp_path / "cases"),
        ],
    )
    assert second.exit_code == 0, second.output
    a, b = (json.loads((tmp_path / x / "fidelity.json").read_text()) for x in "ab")
    assert a["discrimination"] == b["discrimination"] and a["rating"] == b["rating"]
    whole = CliRunner().invoke(  # the data the draw came from: held-out pairs left out
        app,
        [
            "fidelity",
            "--data",
            data,
            *args,
            "--cases",
            str(tmp_path / "cases"),
            "--out",
            str(tmp_path / "d"),
        ],
    )
    assert whole.exit_code == 0, whole.output
    d = json.loads((tmp_path / "d" / "fidelity.json").read_text())
    assert d["discrimination"] == a["discrimination"] and d["rating"] == a["rating"]
    assert any("held-out interaction(s) were in the given data" in n for n in d["notes"])
    bad = tmp_path / "cases" / "ranking.jsonl"
    bad.write_text('{"user_id": "u0"}\n')
    third = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--data",
            str(train),
            "--cases",
            str(tmp_path / "cases"),
            "--out",
            str(tmp_path / "c"),
        ],
    )
    assert third.exit_code == 2
    assert "ranking.jsonl line 1, field" in " ".join(third.output.split())


def test_calibrate_on_the_fidelity_split(synthetic, tmp_path):
    data = _csv_folder(synthetic, tmp_path / "data")
    out = tmp_path / "cal.json"
    split = ["--users", "10", "--positives", "2", "--rated", "4", "--min-history", "5"]
    result = CliRunner().invoke(
        app, ["calibrate", data, "--out", str(out), "--fidelity-split", *split, "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    saved = CalibrationResult.load(out)
    config = CaseConfig(users=10, positives=2, rated=4, min_history=5, seed=3)
    assert saved.split == config.split()
    from simulator.cli.app import load_data

    loaded = load_data(data)
    train = build_cases(loaded, config).train
    assert len(train.interactions) == len(synthetic.interactions) - 10 * (2 + 4)
    expected = calibrate(train, seed=3)
    assert saved.params == expected.params
    assert saved.params != calibrate(loaded, seed=3).params  # the held-out ratings mattered
    # The fidelity suite notes a calibration that is not of its own split.
    whole = tmp_path / "whole.json"
    CliRunner().invoke(app, ["calibrate", data, "--out", str(whole)])

    def suite(calibration: Path, folder: str):
        return CliRunner().invoke(
            app,
            ["fidelity", "--data", data, *split, "--seed", "3", "--multiples", "1",
             "--calibration", str(calibration), "--floors", "none", "--no-behaviour",
             "--out", str(tmp_path / folder)],
        )  # fmt: skip

    noted = suite(whole, "f")
    assert noted.exit_code == 0, noted.output
    assert "not fitted on these cases' training part" in " ".join(noted.output.split())
    honest = suite(out, "g")
    assert honest.exit_code == 0 and "not fitted" not in honest.output


@pytest.mark.data
def test_cli_fidelity_on_implicit_agentcf(tmp_path, shared_data):
    folder = shared_data / "agentcf-cds" / "CDs-100-user-dense"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    out = tmp_path / "cds"
    result = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--data",
            str(folder),
            "--kind",
            "recbole",
            "--users",
            "20",
            "--positives",
            "2",
            "--min-history",
            "5",
            "--multiples",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rating fidelity is skipped" in " ".join(result.output.split())
    data = json.loads((out / "fidelity.json").read_text())
    assert data["rating"] == [] and data["notes"]
    assert {row["check"] for row in data["behaviour"]} == {"mainstream-niche"}


@pytest.mark.data
def test_half_stars_of_ml_latest_small(shared_data, tmp_path):
    from scenarios.datasets import load_csv

    root = shared_data / "ml-latest-small"
    if not (root / "ratings.csv").is_file():
        pytest.skip(f"{root} not found")
    # The shared copy ends with a rating of a film movies.csv lacks; the loader refuses it.
    ratings = pd.read_csv(root / "ratings.csv")
    ratings = ratings[ratings["movieId"].isin(pd.read_csv(root / "movies.csv")["movieId"])]
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    data = load_csv(
        tmp_path / "ratings.csv",
        items=root / "movies.csv",
        columns={"user_id": "userId", "item_id": "movieId"},
    )
    assert rating_scale(data) == RatingScale(0.5, 5.0, 0.5)
    config = CaseConfig(users=10, positives=2, rated=5, multiples=(1,))
    report = run_fidelity(data, [RecommenderFloor("item-knn")], config, behaviour=False)
    assert report.rating["n"].iloc[0] == 50
    real = build_cases(data, config).rating["rating"]
    assert report.rating["mean_real"].iloc[0] == pytest.approx(real.mean())
    assert (real * 2 % 2 == 1).any()  # half stars are held out and binned as such


# -- liked and disliked on the data's own scale -------------------------------------------


def test_liked_and_disliked_levels_of_common_scales():
    assert [RatingScale(1, 5, 1).liked, RatingScale(1, 5, 1).disliked] == [4.0, 2.0]
    assert [RatingScale(0.5, 5, 0.5).liked, RatingScale(0.5, 5, 0.5).disliked] == [4.0, 1.5]
    assert [RatingScale(1, 10, 1).liked, RatingScale(1, 10, 1).disliked] == [8.0, 3.0]
    assert RatingScale(0, 10, 1).liked == 8.0  # 7.5 is as near 7 as 8: ties go up
    # "Disliked" mirrors "liked": as far above the bottom as liked starts below the top.
    assert [RatingScale(0, 10, 1).disliked, RatingScale(1, 3, 1).disliked] == [2.0, 1.0]
    assert [RatingScale(1, 7, 1).liked, RatingScale(1, 7, 1).disliked] == [6.0, 2.0]
    # The utility model's liked rating is the scale's even where levels are missing.
    assert liked_rating(np.array([1.0, 2.0, 3.0, 5.0])) == 4.0
    assert liked_rating(np.array([1.0, 3.0, 6.0, 10.0])) == 8.0
    assert liked_rating(np.array([7.0, 7.0])) is None  # one value for all: implicit
    assert liked_rating(np.array([np.nan, np.nan])) is None
    assert liked_rating(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])) == 4.0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STEPS), st.integers(-20, 20), st.integers(1, 40), st.data())
def test_the_utility_model_likes_from_where_the_scale_does(step, start, span, data):
    """Ratings that use every level of a scale: the utility model's liked rating is the
    scale's, and it is the level nearest three quarters up (ties up), found by a scan."""
    low = start * 0.5
    levels = np.round(low + step * np.arange(span + 1), 10)
    extra = data.draw(st.lists(st.sampled_from(levels.tolist()), max_size=20))
    ratings = np.r_[levels, extra]
    target = low + 0.75 * (levels[-1] - low)
    nearest = min(levels, key=lambda v: (abs(v - target) - 1e-9 * (v > target), v))
    assert liked_rating(ratings) == pytest.approx(nearest)
    assert RatingScale(low, float(levels[-1]), step).liked == pytest.approx(nearest)


def test_a_ten_point_user_likes_what_they_rated_eight_or_more(ten_point):
    from agents.utility import UtilityModel
    from memory.embedders import HashingEmbedder
    from scenarios.datasets import load_dataset
    from scenarios.profiles import favourite_genres

    data = load_dataset("csv", ten_point)
    assert rating_scale(data) == RatingScale(1.0, 10.0, 1.0)
    a = data.users[data.users["user_id"] == "a"]
    assert favourite_genres(a, data) == {"a": ("Drama",)}
    embedder = HashingEmbedder()
    model = UtilityModel.from_dataset(data, embedder=embedder)
    vectors = embedder.embed(["Drama film 0 Drama", "Drama film 1 Drama"]).mean(axis=0)
    row = model.user_rows([UserProfile(user_id="a")])[0]
    expected = vectors / np.linalg.norm(vectors)
    assert np.allclose(model.user_vectors[row], expected, atol=1e-6)


def test_taste_summaries_read_liked_and_disliked_on_the_data_s_scale(ten_point):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.llm import ScriptedLLM

    class Recorder(ScriptedLLM):
        def __init__(self):
            super().__init__()
            self.taste = []

        def generate(self, requests):
            self.taste += [r for r in requests if r.tag == "taste"]
            return super().generate(requests)

    config = load_scenario(
        "quickstart",
        **{
            "dataset.kind": "csv",
            "dataset.path": str(ten_point),
            "dataset.options": {},
            "population.size": 13,
            "steps": 1,
            "taste_summary": True,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
        },
    )
    llm = Recorder()
    with open_world(config, llm=llm, seed=0):
        pass
    asked = [r.messages[-1].content for r in llm.taste]
    # 9 and 10 are liked, 5 and 6 neither (liked on a 1-5 reading), 2 and 3 disliked.
    mine = (
        'Liked: <items>"Drama film 0"; "Drama film 1"</items>\n'
        'Disliked: <items>"Western film 4"; "Western film 5"</items>\n'
    )
    assert sum(text.startswith(mine) for text in asked) == 1, asked


def test_one_rating_for_everything_calibrates_clicks_alone(tmp_path):
    items = "item_id,title,genres\n" + "".join(f"i{k},Film {k},Drama\n" for k in range(60))
    (tmp_path / "items.csv").write_text(items)
    rng = np.random.default_rng(0)
    rows = "".join(f"u{n // 15},i{rng.integers(60)},1,{n % 15}\n" for n in range(80 * 15))
    (tmp_path / "interactions.csv").write_text("user_id,item_id,rating,timestamp\n" + rows)
    out = tmp_path / "c.json"
    result = CliRunner().invoke(
        app, ["calibrate", str(tmp_path), "--kind", "csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = CalibrationResult.load(out)
    assert saved.rating_levels is None and saved.tv_distance is None


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        (None, "no interactions to calibrate on"),
        (lambda rng, n: rng.uniform(0.7, 10.3, n), "lie on no step"),
        (lambda rng, n: np.round(0.113 + 1.37 * rng.integers(1, 900, n) / 100, 2), "coarser"),
    ],
    ids=["empty", "no-step", "too-many-levels"],
)
def test_calibrate_refuses_data_it_cannot_fit_in_one_line(tmp_path, ratings, message):
    items = "item_id,title,genres\n" + "".join(f"i{k},Film {k},Drama\n" for k in range(60))
    (tmp_path / "items.csv").write_text(items)
    rows = ""
    if ratings is not None:
        rng = np.random.default_rng(0)
        values = ratings(rng, 80 * 15)
        picks = rng.integers(0, 60, 80 * 15)
        pairs = enumerate(zip(picks, values, strict=True))
        rows = "".join(f"u{n // 15},i{i},{v},{n % 15}\n" for n, (i, v) in pairs)
    (tmp_path / "interactions.csv").write_text("user_id,item_id,rating,timestamp\n" + rows)
    result = CliRunner().invoke(
        app, ["calibrate", str(tmp_path), "--kind", "csv", "--out", str(tmp_path / "c.json")]
    )
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and message in errors[0] and str(tmp_path) in errors[0]
    assert "Traceback" not in result.output and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("kept", ["discrimination", "ranking", "rating"])
def test_each_case_file_alone_is_answered_by_the_agent(synthetic, tmp_path, kept):
    write_cases(build_cases(synthetic, SMALL), tmp_path)
    for name in ("discrimination", "ranking", "rating"):
        if name != kept:
            (tmp_path / f"{name}.jsonl").unlink()
    report = run_fidelity(synthetic, [UtilitySubject()], SMALL, cases=tmp_path, behaviour=False)
    for name in ("discrimination", "ranking", "rating"):
        assert getattr(report, name).empty == (name != kept), name
        skipped = [n for n in report.notes if n.startswith(f"no {name} cases")]
        assert bool(skipped) == (name != kept), report.notes
    assert "were in the given data" in report.notes[0]


def test_ranking_lists_of_mixed_lengths_are_each_scored_as_alone(synthetic, tmp_path):
    rows = synthetic.interactions
    lists = []
    for user in synthetic.user_ids[:6]:
        seen = set(rows.loc[rows["user_id"] == user, "item_id"])
        target = rows.loc[rows["user_id"] == user, "item_id"].iloc[0]
        others = [i for i in synthetic.item_ids if i not in seen]
        lists.append((user, [*others[: 1 + len(lists) % 3], target], target))
    (tmp_path / "ranking.jsonl").write_text(
        "".join(
            json.dumps({"user_id": u, "candidates": c, "target": t}) + "\n" for u, c, t in lists
        )
    )
    report = run_fidelity(synthetic, [UtilitySubject()], SMALL, cases=tmp_path, behaviour=False)
    alone = UtilitySubject()
    alone.fit(_without(synthetic, [(u, t) for u, _, t in lists]))
    ranks = []
    for user, candidates, target in lists:
        scores = alone.rank([(user, candidates)])[0]
        ranks.append(1 + int((scores > scores[candidates.index(target)]).sum()))
    assert report.ranking["n"].iloc[0] == len(lists)
    assert report.ranking["mean_rank"].iloc[0] == pytest.approx(np.mean(ranks))
