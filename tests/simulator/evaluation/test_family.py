"""Model-family sensitivity: the ranking of recommenders under each taste family."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from simulator.cli import app
from simulator.evaluation.family import family_sensitivity
from simulator.evaluation.paired import CompareResult

runner = CliRunner()


def _result(ctr: dict[str, list[float]]) -> CompareResult:
    """A comparison with the given click-through per seed for each recommender."""
    runs = pd.DataFrame(
        [
            {"recommender": r, "seed": seed, "ctr": v}
            for r, values in ctr.items()
            for seed, v in enumerate(values)
        ]
    )
    summary = pd.DataFrame(
        [
            {"recommender": r, "versus": "", "metric": "ctr", "mean": np.mean(v)}
            | {"low": np.nan, "high": np.nan, "n": len(v)}
            for r, v in ctr.items()
        ]
    )
    return CompareResult(list(ctr), [0, 1, 2], runs, summary, pd.DataFrame())


def test_an_arm_winning_only_under_its_own_family_is_flagged():
    results = {
        "ease": _result({"item-knn": [0.08, 0.09, 0.08], "als": [0.12, 0.13, 0.12]}),
        "item-knn": _result({"item-knn": [0.15, 0.16, 0.15], "als": [0.11, 0.12, 0.11]}),
        "als": _result({"item-knn": [0.09, 0.10, 0.09], "als": [0.13, 0.14, 0.13]}),
    }
    report = family_sensitivity(results)
    assert report.winners == {"ease": "als", "item-knn": "item-knn", "als": "als"}
    ranks = report.table.set_index(["family", "recommender"])["rank"]
    assert ranks["item-knn", "item-knn"] == 1 and ranks["ease", "item-knn"] == 2
    assert report.findings[0].startswith(
        "item-knn beats als only when the simulated users choose by item-knn too"
    )
    assert "loses under ease, als" in report.findings[0]
    assert report.findings[1] == (
        "als beats item-knn under the ease, als taste core, loses under item-knn"
    )


def test_a_reversal_within_noise_is_no_finding():
    """Under als the order flips, but the paired differences straddle 0."""
    results = {
        "ease": _result({"most-popular": [0.20, 0.21, 0.20], "als": [0.10, 0.11, 0.10]}),
        "als": _result({"most-popular": [0.20, 0.10, 0.15], "als": [0.10, 0.20, 0.16]}),
    }
    report = family_sensitivity(results)
    assert report.winners == {"ease": "most-popular", "als": "als"}
    assert report.findings == ()


def test_the_same_winner_everywhere_has_no_findings(tmp_path):
    results = {
        f: _result({"most-popular": [0.2, 0.21, 0.2], "als": [0.1, 0.11, 0.1 + i / 100]})
        for i, f in enumerate(["ease", "als"])
    }
    report = family_sensitivity(results)
    assert report.findings == () and set(report.winners.values()) == {"most-popular"}
    report.save(tmp_path)
    saved = json.loads((tmp_path / "families.json").read_text())
    assert saved["winners"] == {"ease": "most-popular", "als": "most-popular"}
    assert len(pd.read_csv(tmp_path / "families.csv")) == 4


def test_compare_runs_each_family_and_writes_the_family_table(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "filter-bubble", "--recommenders", "most-popular,item-knn"]
    args += ["--seeds", "1", "--steps", "2", "--users", "12", "--out", str(out)]
    result = runner.invoke(app, [*args, "--taste-families", "ease,item-knn"])
    assert result.exit_code == 0, result.output
    assert "rank by click-through under each taste family" in " ".join(result.output.split())
    for family in ("ease", "item-knn"):
        run = out / family / "item-knn" / "seed-3"  # the scenario's seed
        assert (run / "metrics.parquet").exists()
        config = (run / "config.yaml").read_text()
        assert f"taste_family: {family}" in config
    table = pd.read_csv(out / "families.csv")
    assert sorted(table["family"].unique()) == ["ease", "item-knn"]
    assert "--taste-families ease,item-knn" in (out / "command.txt").read_text()


def test_taste_families_need_a_policy_with_a_taste_core(tmp_path):
    args = ["compare", "quickstart", "--recommenders", "random,most-popular", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--taste-families", "ease", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "llm policy has no taste core" in result.output
    result = runner.invoke(
        app, [*args[:-2], "--seeds", "1", "--taste-families", "ease,svd", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "ease, item-knn, als" in result.output
