"""Output paths and summaries that every command shares."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.runlog import read_interactions


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fb") / "run"
    result = CliRunner().invoke(
        app, ["run", "filter-bubble", "--steps", "2", "--users", "40", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_run_summary_mean_rating_is_each_arms_mean_over_its_rated_watches(run_dir):
    out, printed = run_dir
    log = read_interactions(out)
    for arm, rows in log.groupby("recommender"):
        mean = rows["rating"].dropna().mean()
        line = next(x for x in printed.splitlines() if f"{arm}: mean rating" in x)
        assert f"{mean:.2f}" in line
    assert "scripted backend" not in printed  # the utility policy uses no LLM


def test_watched_entropy_is_undefined_until_a_user_watches(run_dir):
    out, _ = run_dir
    users = pd.read_parquet(out / "users.parquet")
    watched = read_interactions(out).query("action == 'watch'")
    first_watch = watched.groupby("user_id")["step"].min()
    before = users["step"] < users["user_id"].map(first_watch).fillna(10**9)
    assert users.loc[before, "watched_entropy"].isna().all()
    assert users.loc[~before, "watched_entropy"].notna().all()


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--data", "synthetic", "--recommender", "random", "--out", "{file}/x.csv"],
        ["report", "{run}", "--out", "{file}/report.html"],
        ["export", "{run}", "--format", "csv", "--out", "{file}/csv"],
        ["fidelity", "--data", "synthetic", "--users", "3", "--out", "{file}/fid"],
        ["compare", "filter-bubble", "--recommenders", "random", "--out", "{file}/cmp"],
    ],
    ids=lambda c: c[0],
)
def test_an_unwritable_out_is_one_line_before_any_work(run_dir, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = [a.format(file=blocker, run=run_dir[0]) for a in command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "cannot create" in result.output
    assert "Traceback" not in result.output
