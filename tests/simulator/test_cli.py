from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.compose import open_memory_store
from simulator.rundir import FinishedRun
from simulator.runlog import read_interactions

runner = CliRunner()


def run_data_scenario(name, out, data_dir, *options):
    """``recworld run NAME --data-dir DIR --out OUT [options]``; fails the test on error."""
    args = ["run", name, "--data-dir", str(data_dir), "--out", str(out), *options]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_run_quickstart_writes_a_run(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "quickstart",
            "--llm",
            "scripted",
            "--steps",
            "2",
            "--users",
            "15",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "scripted backend" in result.output
    assert "click-through" in result.output
    assert "- tok/s" in result.output, "no token rate for a backend that reads no tokens"
    assert (out / "metrics.parquet").exists() and (out / "llm_stats.json").exists()


def test_malformed_scenario_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nslate_size: many\nrecommender: {name: most-popular}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "slate_size" in lines[0] and "'many'" in lines[0]


def test_unknown_recommender_lists_the_choices(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrecommender: {name: magic}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "recommender.name" in result.output and "most-popular" in result.output


def test_unknown_scenario_name_lists_shipped_ones():
    result = runner.invoke(app, ["run", "no-such-scenario"])
    assert result.exit_code == 2 and "quickstart" in result.output


def test_scenarios_lists_every_shipped_file():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    for name in ("quickstart", "movielens-100k", "recagent-movies", "agentcf-cds"):
        assert name in result.output


@pytest.mark.data
def test_truncated_u_data_is_one_line_and_exit_2(tmp_path, shared_data):
    src = shared_data / "ml-100k"
    dst = tmp_path / "ml-100k"
    dst.mkdir()
    for name in ("u.item", "u.user", "u.genre"):
        (dst / name).write_bytes((src / name).read_bytes())
    lines = (src / "u.data").read_text().splitlines()[:500]
    (dst / "u.data").write_text("\n".join(lines) + "\n196\t24")
    result = runner.invoke(app, ["data", "info", str(dst), "--kind", "movielens-100k"])
    assert result.exit_code == 2
    out = [line for line in result.output.splitlines() if line.strip()]
    assert len(out) == 1 and "u.data:501" in out[0]
    result = runner.invoke(
        app,
        [
            "run",
            "movielens-100k",
            "--data-dir",
            str(tmp_path),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "u.data:501" in result.output


@pytest.mark.data
def test_movielens_scenario_runs_from_the_command_line(tmp_path, shared_data):
    out = tmp_path / "ml"
    run_data_scenario("movielens-100k", out, shared_data, "--users", "50", "--steps", "3")
    assert len(list((out / "interactions.parquet").iterdir())) == 3
    assert (out / "memory" / "chroma.sqlite3").exists()


@pytest.mark.data
def test_data_info_prints_counts_and_genres(shared_data):
    result = runner.invoke(app, ["data", "info", str(shared_data / "ml-100k")])
    assert result.exit_code == 0, result.output
    assert "100,000" in result.output and "Drama" in result.output


def test_memory_show_prints_scores_of_a_chroma_run(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "quickstart",
            "--llm",
            "scripted",
            "--steps",
            "3",
            "--users",
            "10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "memory" / "chroma.sqlite3").exists()
    rows = read_interactions(out)
    user = rows.loc[rows["action"] == "watch", "user_id"].iloc[0]
    shown = runner.invoke(
        app, ["memory", "show", str(out), "--user", user, "--query", "film"], env={"COLUMNS": "160"}
    )
    assert shown.exit_code == 0, shown.output
    assert "I watched" in shown.output and "score" in shown.output and "ret" in shown.output
    # At 80 columns every record's text is shown whole, under its numbers.
    narrow = runner.invoke(
        app, ["memory", "show", str(out), "--user", user, "--query", "film"], env={"COLUMNS": "80"}
    )
    assert narrow.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.output.splitlines()) <= 80
    joined = " ".join(narrow.output.split())
    store = open_memory_store(FinishedRun(out).config.memory, out)
    texts = [r.text for r in store.records(user)]
    store.close()
    assert 0 < len(texts) <= 30  # all within the default --limit
    assert all(" ".join(t.split()) in joined for t in texts)
    missing = runner.invoke(
        app, ["memory", "show", str(out), "--user", "nobody"], env={"COLUMNS": "300"}
    )
    # The hint names users first (the error is about a --user), then an item or two.
    assert missing.exit_code == 2 and "users include" in missing.output
    text = " ".join(missing.output.split())
    listed = text.split("users include ", 1)[1].split(" and its ", 1)[0].split(", ")
    assert 1 <= len(listed) <= 6 and set(listed) <= set(rows["user_id"])
    assert "item:" in text.split(" and its ", 1)[1]
    (out / "memory" / "chroma.sqlite3").write_bytes(b"not a database" * 400)
    damaged = runner.invoke(app, ["memory", "show", str(out), "--user", user])
    lines = [x for x in damaged.output.splitlines() if x.strip()]
    assert damaged.exit_code == 2 and len(lines) == 1 and "cannot be read" in lines[0]


@pytest.mark.data
def test_calibrate_then_run_the_utility_policy(tmp_path, shared_data):
    cal = tmp_path / "cal.json"
    result = runner.invoke(
        app, ["calibrate", str(shared_data / "ml-100k"), "--out", str(cal)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "rating TV distance" in result.output and cal.exists()
    # Calibration's click-through is per page, never the run's per-exposure one.
    assert "pages with a watch (target / simulated)" in result.output
    scenario = tmp_path / "utility.yaml"
    scenario.write_text(
        "name: utility-ml\nsteps: 2\npolicy: utility\n"
        f"utility: {{calibration: {cal}}}\n"
        "dataset: {kind: movielens-100k, path: ml-100k}\npopulation: {size: 100}\n"
        "taste_summary: false\ninterviews: false\nsearch_rate: 0\nchat_rate: 0\n"
        "item_corrections: 0\nmemory: {backend: in-memory, embedder: hashing}\n"
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(scenario), "--data-dir", str(shared_data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = read_interactions(out)
    assert (rows["action"] == "watch").any()
    assert rows.loc[rows["action"] == "watch", "reason"].str.startswith("utility").all()
    import json

    assert json.loads((out / "llm_stats.json").read_text())["totals"]["calls"] == 0


@pytest.mark.data
def test_movielens_run_logs_every_kind_of_action(tmp_path, shared_data):
    from simulator.runlog import read_events

    out = tmp_path / "ml"
    run_data_scenario(
        "movielens-100k", out, shared_data, "--llm", "scripted", "--users", "60", "--steps", "3"
    )
    rows = read_interactions(out)
    assert {"watch", "skip"} == set(rows["action"])
    watched = rows[rows["action"] == "watch"]
    assert watched["rating"].between(1, 5).all() and (watched["feeling"] != "").any()
    kinds = set(read_events(out)["kind"])
    assert {"exit", "search", "interview", "item_memory", "correction"} <= kinds
    assert kinds & {"chat", "post"}


@pytest.mark.data
def test_agentcf_scenario_runs_item_agent_updates(tmp_path, shared_data):
    from simulator.runlog import read_events

    out = tmp_path / "cds"
    run_data_scenario("agentcf-cds", out, shared_data, "--llm", "scripted", "--steps", "3")
    events = read_events(out)
    assert (events["kind"] == "item_memory").sum() > 0
    assert (events["kind"] == "correction").sum() > 0


def _hostile_ml100k(folder: Path, ratings: int = 120) -> Path:
    """A tiny ml-100k folder whose genres and titles are Rich markup and emoji codes."""
    folder.mkdir()
    (folder / "u.genre").write_text("[/]|0\n[bold red]Drama|1\n:100:|2\n", encoding="latin-1")
    items = [
        f"{i}|[/] Title :100: {i}|01-Jan-1995||http://x|{i % 2}|{(i + 1) % 2}|1"
        for i in range(1, 11)
    ]
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    (folder / "u.user").write_text(
        "\n".join(f"{u}|30|M|other|00000" for u in range(1, 13)) + "\n", encoding="latin-1"
    )
    rows = [f"{1 + n % 12}\t{1 + n % 10}\t{1 + n % 5}\t{880000000 + n}" for n in range(ratings)]
    (folder / "u.data").write_text("\n".join(rows) + "\n", encoding="latin-1")
    return folder


def test_markup_in_data_prints_as_text(tmp_path):
    """Genres "[/]" and "[bold red]Drama" and a line number 100 are printed as they are:
    no MarkupError, no style swallowing text, no emoji."""
    folder = _hostile_ml100k(tmp_path / "hostile")
    result = runner.invoke(app, ["data", "info", str(folder), "--kind", "movielens-100k"])
    assert result.exit_code == 0, result.output
    assert "genre: [/]" in result.output and "genre: [bold red]Drama" in result.output
    assert "genre: :100:" in result.output and "\U0001f4af" not in result.output
    lines = (folder / "u.data").read_text(encoding="latin-1").splitlines()
    lines[99] = "1\t2\tx\t3"
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    result = runner.invoke(app, ["data", "info", str(folder), "--kind", "movielens-100k"])
    assert result.exit_code == 2
    assert "u.data:100" in result.output and "\U0001f4af" not in result.output


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("name: ../../../escaped", "name"),
        ("name: a/b", "name"),
        ("name: quickstart\noutput: ../../etc", "output"),
        ("name: quickstart\noutput: /tmp/elsewhere", "output"),
    ],
)
def test_a_scenario_cannot_write_outside_the_working_folder(tmp_path, monkeypatch, line, field):
    monkeypatch.chdir(tmp_path / "..")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"{line}\npolicy: utility\nsteps: 1\n")
    before = set(tmp_path.parent.parent.iterdir())
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and field in lines[0] and "bad.yaml" in lines[0]
    assert set(tmp_path.parent.parent.iterdir()) == before
    assert not (tmp_path.parent / "runs").exists()


def test_every_command_that_reads_a_dataset_takes_data_dir_the_same_way(tmp_path):
    """DATA (or --data) names the dataset; --data-dir is always where datasets live."""
    from scenarios.datasets import generate_synthetic
    from scenarios.datasets.generic_csv import write_csv

    write_csv(generate_synthetic(n_users=30, n_items=40, history_per_user=8), tmp_path / "mine")
    where = ["--data-dir", str(tmp_path)]
    alone = runner.invoke(app, ["data", "info", "mine"])
    assert alone.exit_code == 2 and "--data-dir" in alone.output
    commands = [
        ["data", "info", "mine", *where],
        ["evaluate", "--data", "mine", "--recommender", "most-popular", *where],
        ["distill", "mine", "--run", str(tmp_path / "none"), *where],
    ]
    for args in commands:
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert "dataset not found" not in result.output, (args, result.output)
    assert runner.invoke(app, commands[0]).exit_code == 0
    assert runner.invoke(app, commands[1]).exit_code == 0
    # distill found the data and stopped at the missing run folder, in one line.
    distilled = runner.invoke(app, commands[2])
    assert distilled.exit_code == 2 and "no such run directory" in distilled.output


def test_a_csv_with_its_own_column_names_loads_through_columns(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "interactions.csv").write_text(
        "userId,movieId,stars\n"
        + "".join(f"u{u},m{i},{1 + (u + i) % 5}\n" for u in range(6) for i in range(5))
    )
    plain = runner.invoke(app, ["data", "info", str(folder)])
    assert plain.exit_code == 2 and "user_id" in plain.output
    mapping = "user_id=userId,item_id=movieId,rating=stars"
    result = runner.invoke(app, ["data", "info", str(folder), "--columns", mapping])
    assert result.exit_code == 0, result.output
    assert "30" in result.output and "3.00" in result.output  # 30 ratings, mean 3
    for bad, says in (
        ("user_id", "'user_id' is not OURS=THEIRS"),
        ("who=userId", "unknown column mapping key 'who'"),
    ):
        result = runner.invoke(app, ["data", "info", str(folder), "--columns", bad])
        assert result.exit_code == 2 and says in result.output, result.output
    other = runner.invoke(app, ["data", "info", "synthetic", "--columns", mapping])
    assert other.exit_code == 2 and "a mapping is for csv data" in other.output


def test_an_ab_run_summary_gives_each_arm_and_names_an_unasked_llm_as_such(tmp_path):
    out = tmp_path / "ab"
    args = ["run", "filter-bubble", "--steps", "2", "--users", "20", "--out", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    log = read_interactions(out)
    for arm, rows in log.groupby("recommender"):
        watches = rows["action"] == "watch"
        line = next(x for x in result.output.splitlines() if f"{arm}: click-through" in x)
        assert f"{watches.mean():.3f}" in line
        assert f"{arm}: exposures" in result.output
    assert "click-through (watches / exposures)" not in result.output, "no pooled A/B figure"
    assert "(not asked: no LLM call)" in result.output, "the utility policy asks no LLM"


def test_a_run_too_short_for_its_scheduled_events_says_which_never_happen(tmp_path):
    scenario = tmp_path / "late.yaml"
    scenario.write_text(
        "name: late\nsteps: 4\npolicy: utility\n"
        "dataset: {kind: synthetic, options: {n_users: 40, n_items: 60, history_per_user: 8}}\n"
        "memory: {backend: in-memory, embedder: hashing}\n"
        "arrivals: {at_step: 3, items: 0.1}\n"
        "switches:\n  - {at_step: 3, recommender: {name: mmr}}\n"
    )
    args = ["run", str(scenario), "--users", "10", "--out", str(tmp_path / "a")]
    full = runner.invoke(app, args)
    assert full.exit_code == 0, full.output
    assert "never happens" not in full.output
    short = runner.invoke(
        app,
        ["run", str(scenario), "--users", "10", "--steps", "2", "--out", str(tmp_path / "b")],
    )
    assert short.exit_code == 0, short.output
    text = " ".join(short.output.split())
    assert "the switch to mmr at step 3 never happens in a 2-step run" in text
    assert "the arrivals at step 3 never happens in a 2-step run" in text
