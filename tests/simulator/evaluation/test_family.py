"""Model-family sensitivity: the ranking of recommenders under each taste family."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from simulator.cli import app
from simulator.evaluation.family import family_sensitivity
from simulator.evaluation.paired import CompareResult

runner = CliRunner()


def _result(ctr: dict[str, float]) -> CompareResult:
    summary = pd.DataFrame(
        [
            {
                "recommender": r,
                "versus": "",
                "metric": "ctr",
                "mean": v,
                "low": v,
                "high": v,
                "n": 3,
            }
            for r, v in ctr.items()
        ]
    )
    return CompareResult(list(ctr), [0, 1, 2], pd.DataFrame(), summary, pd.DataFrame())


def test_an_arm_winning_only_under_its_own_family_is_flagged():
    results = {
        "ease": _result({"most-popular": 0.10, "item-knn": 0.08, "als": 0.12}),
        "item-knn": _result({"most-popular": 0.10, "item-knn": 0.15, "als": 0.11}),
        "als": _result({"most-popular": 0.10, "item-knn": 0.09, "als": 0.13}),
    }
    report = family_sensitivity(results)
    assert report.winners == {"ease": "als", "item-knn": "item-knn", "als": "als"}
    ranks = report.table.set_index(["family", "recommender"])["rank"]
    assert ranks["item-knn", "item-knn"] == 1 and ranks["ease", "item-knn"] == 3
    assert report.findings[0].startswith("item-knn wins only when the simulated users choose")
    assert "als under ease, als; item-knn under item-knn" in report.findings[-1]
    # als also wins under its own family, but not only there: no artefact flag for it.
    assert not any(f.startswith("als wins only") for f in report.findings)


def test_the_same_winner_everywhere_has_no_findings(tmp_path):
    results = {
        f: _result({"most-popular": 0.2, "als": 0.1 + i / 100})
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
