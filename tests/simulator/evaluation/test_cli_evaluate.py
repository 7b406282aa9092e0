import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.evaluation.offline import SET_METRICS, USER_METRICS

runner = CliRunner()


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    """A small synthetic dataset written as a csv folder, so --data takes a real path."""
    from scenarios.datasets import generate_synthetic

    data = generate_synthetic(n_users=60, n_items=80, history_per_user=10, seed=2)
    folder = tmp_path_factory.mktemp("synthetic-csv")
    data.interactions.to_csv(folder / "interactions.csv", index=False)
    items = data.items.assign(genres=data.items["genres"].map("|".join))
    items[["item_id", "title", "genres"]].to_csv(folder / "items.csv", index=False)
    return folder


def evaluate(*args):
    return runner.invoke(app, ["evaluate", *args])


def flat(result):
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def one_error_line(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_evaluate_prints_tables_and_writes_csv(csv_data, tmp_path):
    out = tmp_path / "results.csv"
    result = evaluate(
        "--data", str(csv_data), "--recommender", "random,most-popular", "--k", "5",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "accuracy @5" in result.output and "NDCG@5" in result.output
    assert "most-popular" in result.output and "±" in result.output
    scored = re.search(r"leave-last-out split: (\d+) of (\d+) test users scored", flat(result))
    assert scored and scored[1] == scored[2]
    assert f"per-user rows to {tmp_path / 'results-per-user.csv'}" in flat(result)
    summary = pd.read_csv(out)
    per_user = pd.read_csv(tmp_path / "results-per-user.csv")
    assert set(summary["recommender"]) == {"random", "most-popular"}
    assert set(summary["metric"]) == {*USER_METRICS, *SET_METRICS}
    assert len(per_user) == 2 * int(scored[1]) > 100


def test_evaluate_json_and_parquet_agree(csv_data, tmp_path):
    common = ["--data", str(csv_data), "--recommender", "most-popular", "--users", "20"]
    common += ["--split", "random", "--seed", "3"]
    assert evaluate(*common, "--out", str(tmp_path / "r.json")).exit_code == 0
    assert evaluate(*common, "--out", str(tmp_path / "r.parquet")).exit_code == 0
    records = json.loads((tmp_path / "r-per-user.json").read_text())
    parquet = pd.read_parquet(tmp_path / "r-per-user.parquet")
    assert len(records) == len(parquet) == 20
    assert [r["user_id"] for r in records] == parquet["user_id"].tolist()
    summary = pd.read_parquet(tmp_path / "r.parquet")
    ndcg = summary.loc[summary["metric"] == "ndcg", "mean"].item()
    assert ndcg == pytest.approx(pd.DataFrame(records)["ndcg"].mean())


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--recommender", "most-popular,magic"], ["'magic'", "item-knn", "most-popular"]),
        (["--recommender", " , "], ["--recommender: no recommender given"]),
        (["--recommender", "als,als"], ["--recommender: als given twice"]),
        (["--recommender", "random", "--split", "kfold"], ["'kfold'", "leave-last-out"]),
        (["--recommender", "random", "--k", "0"], ["--k 0", "at least 1"]),
        (["--recommender", "random", "--users", "0"], ["--users 0"]),
        (["--recommender", "random", "--out", "r.xlsx"], ["'.xlsx'", ".csv", ".parquet"]),
        (["--recommender", "random", "--relevant-rating", "99"], ["left no user"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(csv_data, args, fragments):
    one_error_line(evaluate("--data", str(csv_data), *args), *fragments)


def test_missing_data_path_is_one_line(tmp_path):
    missing = tmp_path / "nowhere"
    result = evaluate("--data", str(missing), "--recommender", "random")
    one_error_line(result, "nowhere")


@pytest.mark.data
def test_evaluate_on_ml100k_temporal(shared_data):
    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip("ml-100k not in the shared data folder")
    result = evaluate(
        "--data", str(folder), "--recommender", "most-popular,item-knn", "--split", "temporal",
        "--relevant-rating", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ml-100k: accuracy @10" in result.output
    assert "without training history" in flat(result)


def test_a_dataset_without_history_is_named():
    import pytest

    from scenarios.datasets import generate_synthetic
    from simulator.dataset import Dataset
    from simulator.errors import RecworldError
    from simulator.evaluation.offline import evaluate

    data = generate_synthetic(n_users=10, n_items=20, history_per_user=3, seed=0)
    profiles_only = Dataset("profiles", data.users, data.items, data.interactions.iloc[:0])
    with pytest.raises(RecworldError, match="profiles: no interactions to split"):
        evaluate(profiles_only, ["random"])
