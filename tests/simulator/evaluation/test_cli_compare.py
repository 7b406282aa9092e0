"""``recworld compare`` end to end, on a tiny population."""

import pandas as pd
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


def test_compare_writes_runs_and_prints_tables(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "filter-bubble", "--recommenders", "most-popular,mmr"]
    args += ["--seeds", "2", "--steps", "2", "--users", "15", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "A/B arms (popularity, diverse) are cleared" in result.output
    assert "paired differences against most-popular" in result.output
    assert "genre entropy of exposures by step" in result.output
    # Two seeds: the t quantile at one degree of freedom is 12.7; the output says so.
    assert "2 seeds: each ± is 12.7 standard errors wide" in " ".join(result.output.split())
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["recommender"]) == ["most-popular", "most-popular", "mmr", "mmr"]
    assert (out / "mmr" / "seed-4" / "metrics.parquet").exists()
    assert (out / "summary.json").exists() and (out / "entropy_curves.csv").exists()
    command = (out / "command.txt").read_text()
    assert command.startswith("recworld compare filter-bubble --recommenders most-popular,mmr")
    assert "--users 15" in command and "--jobs 1" in command


def test_unknown_recommender_is_exit_2_naming_it(tmp_path):
    args = ["compare", "filter-bubble", "--recommenders", "most-popular,magic"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "'magic'" in lines[0] and "item-knn" in lines[0]
    assert not any(tmp_path.iterdir()), "nothing runs or is written"


def test_existing_runs_are_refused_before_anything_runs(tmp_path):
    (tmp_path / "random" / "seed-3").mkdir(parents=True)
    (tmp_path / "random" / "seed-3" / "config.yaml").write_text("name: old\n")
    args = ["compare", "filter-bubble", "--recommenders", "most-popular,random", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "already holds a run" in result.output and "--overwrite" in result.output
    assert not (tmp_path / "most-popular").exists()


def test_the_few_seeds_warning_uses_the_t_quantile():
    from scipy.stats import t

    from simulator.cli.compare import few_seeds_warning

    for n in (2, 3, 4):
        assert f"each ± is {t.ppf(0.975, n - 1):.1f} standard errors" in few_seeds_warning(n, 0.95)
    assert "1 degree of" in few_seeds_warning(2, 0.95)
    assert "3 degrees of" in few_seeds_warning(4, 0.95)


def test_your_own_class_competes_by_its_import_path(tmp_path, monkeypatch):
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender")
    out = tmp_path / "cmp"
    mine = "byo_recommender.GenreMatch"
    args = ["compare", "filter-bubble", "--recommenders", f"most-popular,{mine}", "--seeds", "1"]
    args += ["--steps", "2", "--users", "15", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["recommender"]) == ["most-popular", mine]
    seed = runs["seed"].iloc[1]
    logged = pd.read_parquet(out / mine / f"seed-{seed}" / "interactions.parquet")
    assert set(logged["recommender"]) == {mine} and len(logged)


def test_a_class_path_not_allowed_is_exit_2_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("RECWORLD_ALLOW_IMPORT", raising=False)
    args = ["compare", "quickstart", "--recommenders", "most-popular,byo_recommender.GenreMatch"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "RECWORLD_ALLOW_IMPORT=byo_recommender" in result.output
    assert not any(tmp_path.iterdir())
