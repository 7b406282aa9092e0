"""Enrichment (LLM-written profiles) and distillation (a small model on LLM labels)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from agents.debias import CONTENT_FREE_TITLE
from scenarios.datasets import generate_synthetic
from scenarios.datasets.generic_csv import write_csv
from simulator.cli import app
from simulator.cli.app import load_data
from simulator.llm.runtime import LLMRuntime
from simulator.llm.scripted import ScriptedLLM
from simulator.llmrec.distill import TrainedOn, distill
from simulator.llmrec.enrich import CACHE, enrich
from simulator.recommenders.registry import make_recommender
from simulator.types import LLMResponse


@pytest.fixture(scope="module")
def data():
    return generate_synthetic(n_users=50, n_items=70, history_per_user=12, seed=5)


class Counting:
    """The scripted backend, counting requests and failing the batches it is told to."""

    name = "counting"
    model = "scripted"

    def __init__(self, fail_batch: int | None = None) -> None:
        self.inner = ScriptedLLM(seed=1)
        self.requests = 0
        self.batches = 0
        self.fail_batch = fail_batch

    def generate(self, requests):
        self.batches += 1
        if self.batches == self.fail_batch:
            raise KeyboardInterrupt  # an interruption in the middle of the run
        self.requests += len(requests)
        return self.inner.generate(requests)


def test_enrich_writes_profiles_in_batches_and_resumes_where_it_stopped(data, tmp_path):
    cache = tmp_path / CACHE
    first = Counting(fail_batch=3)
    with pytest.raises(KeyboardInterrupt):
        enrich(data, LLMRuntime(first), cache, batch=20)
    lines = cache.read_text().splitlines()
    assert len(lines) == 40, "two finished batches of 20 are in the cache"
    second = Counting()
    result = enrich(data, LLMRuntime(second), cache, batch=20)
    total = len(data.items) + data.interactions["user_id"].nunique()
    assert second.requests == total - 40 and second.batches == -(-(total - 40) // 20)
    assert (result.asked, result.cached, result.failed) == (total - 40, 40, 0)
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    profiles = {(r["kind"], r["id"]): r["text"] for r in records}
    assert len(profiles) == total
    items = result.dataset.items.set_index("item_id")
    original = data.items.set_index("item_id")["description"]
    for item in ("i0", "i5"):
        # The profile follows the item's own description.
        assert items.loc[item, "description"] == f"{original[item]} {profiles[('item', item)]}"
    users = result.dataset.users.set_index("user_id")
    assert users.loc["u3", "profile"] == profiles[("user", "u3")]
    # Nothing left to ask: a third run sends no request.
    third = Counting()
    enrich(data, LLMRuntime(third), cache, batch=20)
    assert third.requests == 0


def test_an_enriched_dataset_round_trips_as_a_csv_folder(data, tmp_path):
    result = enrich(data, LLMRuntime(ScriptedLLM()), tmp_path / CACHE, users=False)
    folder = write_csv(result.dataset, tmp_path / "out")
    back = load_data(str(folder))
    assert back.meta["kind"] == "csv"
    pd.testing.assert_frame_equal(
        back.interactions[["user_id", "item_id", "timestamp"]].astype(str),
        result.dataset.interactions[["user_id", "item_id", "timestamp"]].astype(str),
    )
    assert back.items["description"].tolist() == result.dataset.items["description"].tolist()
    assert [tuple(g) for g in back.items["genres"]] == [tuple(g) for g in data.items["genres"]]


def test_enrich_command_writes_a_dataset_folder(data, tmp_path):
    write_csv(data, tmp_path / "src")
    out = tmp_path / "rich"
    result = CliRunner().invoke(
        app, ["enrich", str(tmp_path / "src"), "--out", str(out), "--llm", "scripted"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "items.csv").is_file() and (out / CACHE).is_file()
    assert "profile" in load_data(str(out)).users.columns


class Picky:
    """A backend that likes the items whose titles it is given (P(yes) 0.9) and no other
    (0.05); the content-free item of calibration gets even odds."""

    name = "picky"
    model = "titles"

    def __init__(self, liked: set[str]) -> None:
        self.liked = liked

    def generate(self, requests):
        out = []
        for request in requests:
            text = request.messages[-1].content
            asked = text.split('<items>"', 1)[1].split('"', 1)[0]
            p = 0.5 if asked == CONTENT_FREE_TITLE else 0.9 if asked in self.liked else 0.05
            out.append(LLMResponse(text="yes", choice_probs={"yes": p, "no": 1 - p}))
        return out


def test_distil_learns_from_the_llms_yeses_and_scores_beside_the_real_log(data):
    titles = data.items.set_index("item_id")["title"]
    liked = set(titles.iloc[::2])
    result = distill(data, student="item-knn", llm=LLMRuntime(Picky(liked)), users=10, unseen=6)
    # Ten users, each asked about their training items (all but the last: leave-last-out)
    # and six unseen ones; the log is exactly the pairs whose item the backend likes.
    asked = result.labels.groupby("user_id").size()
    sizes = data.interactions.groupby("user_id").size()[asked.index] - 1
    assert len(asked) == 10
    np.testing.assert_array_equal(asked.to_numpy(), sizes.to_numpy() + 6)
    expected = result.labels[result.labels["item_id"].map(titles).isin(liked)]
    assert result.log[["user_id", "item_id"]].values.tolist() == (
        expected[["user_id", "item_id"]].values.tolist()
    )
    np.testing.assert_allclose(
        result.labels["p_yes"],
        np.where(
            result.labels["item_id"].map(titles).isin(liked),
            0.9 / 0.5 / (0.9 / 0.5 + 0.1 / 0.5),
            0.05 / 0.5 / (0.05 / 0.5 + 0.95 / 0.5),
        ),
    )
    labels = set(result.offline.summary["recommender"])
    assert labels == {"item-knn (real log)", "item-knn (LLM-labelled log)"}
    assert result.offline.split["scored_users"] == result.log["user_id"].nunique()


def test_distil_asks_at_most_own_of_a_users_items(data):
    liked = set(data.items["title"])
    result = distill(data, student="als", llm=LLMRuntime(Picky(liked)), users=5, own=3, unseen=4)
    asked = result.labels.groupby("user_id").size()
    train = data.interactions.groupby("user_id").size()[asked.index] - 1  # leave-last-out
    assert len(asked) == 5 and (asked == train.clip(upper=3) + 4).all()


def test_distil_from_a_run_directory_learns_its_watches(tmp_path):
    out = tmp_path / "run"
    ran = CliRunner().invoke(
        app,
        [
            "run",
            "quickstart",
            "--out",
            str(out),
            "--steps",
            "2",
            "--users",
            "20",
            "--llm",
            "scripted",
        ],
    )
    assert ran.exit_code == 0, ran.output
    result = CliRunner().invoke(
        app,
        [
            "distill",
            "synthetic",
            "--run",
            str(out),
            "--student",
            "als",
            "--out",
            str(tmp_path / "d"),
        ],
    )
    assert result.exit_code == 0, result.output
    log = pd.read_csv(tmp_path / "d" / "labelled_log.csv")
    watches = pd.read_parquet(out / "interactions.parquet")
    assert len(log) == int((watches["action"] == "watch").sum())


def test_a_model_trained_on_another_log_never_recommends_the_real_history(data):
    knn = TrainedOn(make_recommender("most-popular", None, seed=0), data, "most-popular")
    knn.fit(data)
    lists = knn.recommend(["u1", "u2"], 5)
    seen = data.interactions.groupby("user_id")["item_id"].agg(set)
    for user, items in lists.items():
        assert len(items) == 5 and not set(items) & seen[user]


def test_distil_refuses_both_sources_or_neither(data, tmp_path):
    with pytest.raises(Exception, match="not both"):
        distill(data, llm=LLMRuntime(Picky(set())), run_dir=tmp_path)
    with pytest.raises(Exception, match="choose one of"):
        distill(data, student="gpt", llm=LLMRuntime(Picky(set())))


def test_evaluate_takes_parameters_per_recommender(tmp_path):
    out = tmp_path / "s.csv"
    params = '{"sasrec": {"text_init": "hashing", "epochs": 1, "hidden": 8, "max_len": 4}}'
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            "synthetic",
            "--recommender",
            "most-popular,sasrec",
            "--params",
            params,
            "--users",
            "20",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out)["recommender"]) == {"most-popular", "sasrec"}
    for bad, says in (
        ("{nope", "--params: not JSON"),
        ('{"als": {}}', "als not in --recommender"),
        ('{"sasrec": 3}', "an object of objects"),
        ('{"sasrec": {"hidden": -1}}', "recommender.params.hidden"),
    ):
        result = CliRunner().invoke(
            app, ["evaluate", "--data", "synthetic", "--recommender", "sasrec", "--params", bad]
        )
        assert result.exit_code == 2 and says in result.output, (bad, result.output)
        assert "Traceback" not in result.output
