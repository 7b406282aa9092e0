"""``recworld dashboard`` and ``run --dashboard``: the replay model, the refusals, and the
page stepped in headless Chromium (replay and live)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.dashboard import LiveRun, LiveSession, RunReplay, series
from simulator.rundir import FinishedRun

runner = CliRunner()
# Two arms, churn, scripted answers (reasons, chats, AgentCF corrections) and a Chroma
# store: every view has something to show, and the run takes a few seconds.
SCENARIO = """\
name: dash-test
seed: 5
steps: 4
slate_size: 4
pages: 2
memory_k: 2
churn_after: 2
item_corrections: 10
search_rate: 0.2
chat_rate: 0.2
dataset:
  kind: synthetic
  options: {n_users: 60, n_items: 80, n_genres: 6, history_per_user: 8}
population: {size: 16, sampling: random}
arms:
  - {name: most-popular, label: popular}
  - {name: random, label: random}
llm: {backend: scripted}
memory: {backend: chroma, embedder: hashing}
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "dash-test.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def run_dir(scenario) -> Path:
    out = scenario.parent / "run"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_replaying_a_run_step_by_step_reproduces_its_logged_metrics(run_dir):
    run = FinishedRun(run_dir)
    model = RunReplay(run)
    assert model.steps == 0 and model.running and model.logs().interactions.empty
    while model.running:
        model.step()
        logged = run.metrics.iloc[: model.steps].reset_index(drop=True)
        pd.testing.assert_frame_equal(model.metrics(), logged)
        logs = model.logs()
        assert logs.interactions["step"].max() == model.steps
        # The per-arm series add up to the world's own (pooled) metrics of the step.
        arms = series.engagement(logs.interactions)
        now = arms[arms["step"] == model.steps]
        assert now["exposures"].sum() == logged["exposures"].iloc[-1]
        assert now["watches"].sum() == logged["watches"].iloc[-1]
        # Departures replay the world's churn rule: as many as the world counted.
        left = series.departures(logs.users, logs.interactions, model.churn_after)
        assert len(left) == logged["users_left"].iloc[-1]
    assert model.steps == run.steps == 4
    model.step()  # past the end: the replay stays on its last step
    assert model.steps == 4 and not model.running and len(model.metrics()) == 4
    assert logged["users_left"].iloc[-1] > 0, "the scenario should make someone leave"
    retention = series.retention(model.profiles(), left, model.steps)
    assert set(retention["arm"]) == {"popular", "random"}
    assert retention["retention"].iloc[:2].eq(1.0).all() and retention["retention"].min() < 1


def test_a_replay_shows_memories_and_item_notes_as_of_its_step(run_dir):
    from simulator.compose import load_config_dataset, open_memory_store

    run = FinishedRun(run_dir)
    dataset = load_config_dataset(run.config.dataset, run.config.data_dir)
    store = open_memory_store(run.config.memory, run.dir)
    try:
        model = RunReplay(run, dataset, store)
        fixes = run.events[run.events["kind"] == "correction"]
        item, step = fixes["item_id"].iloc[0], int(fixes["step"].iloc[0])
        assert model.item(item).note == "" and model.memories(f"item:{item}") == []
        while model.steps < step:
            model.step()
        fixed = fixes[(fixes["item_id"] == item) & (fixes["step"] <= step)]
        assert model.item(item).note == fixed["text"].iloc[-1]
        memories = model.memories(f"item:{item}")
        assert memories and all(r.created <= step for r in memories)
        assert len(memories) < len(store.records(f"item:{item}")) or step == run.steps
    finally:
        store.close()


def test_reset_builds_the_live_world_again_in_its_folder(scenario, tmp_path):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world

    config, out = load_scenario(str(scenario)), tmp_path / "live"
    with LiveSession(lambda again: open_world(config, run_dir=out, overwrite=again)) as session:
        model = LiveRun(session)
        model.step()
        first, rows = session.world, model.logs().interactions
        assert model.steps == first.steps == 1 and rows["step"].eq(1).all() and len(rows)
        watcher = rows.loc[rows["action"] == "watch", "user_id"].iloc[0]
        assert model.memories(watcher), "the live store's memories"
        assert model.item(rows["item_id"].iloc[0]) is not None
        again = LiveRun(**model.params())  # what Mesa's Reset does
        assert session.world is not first and again.steps == 0
        assert again.logs().interactions.empty
        again.step()
        pd.testing.assert_frame_equal(again.logs().interactions, rows)


def test_a_folder_that_is_no_run_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["dashboard", str(tmp_path)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1
    assert str(tmp_path) in lines[0] and "recworld run" in lines[0]


def test_a_missing_viz_extra_is_one_line_and_exit_2(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "solara", None)  # import solara now fails
    result = runner.invoke(app, ["dashboard", str(run_dir), "--port", str(_free_port())])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "recworld[viz]" in lines[0]


def test_a_taken_port_is_one_line_and_exit_2(run_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["dashboard", str(run_dir), "--port", str(port)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and f"--port {port}" in lines[0]


def test_the_replay_page_steps_and_redraws_in_a_browser(run_dir, tmp_path, chromium):
    pytest.importorskip("solara", reason="the dashboard needs the viz extra")
    port = _free_port()
    args = ["dashboard", str(run_dir), "--port", str(port)]
    with _serving(args, port, tmp_path / "serve.log") as process:
        _step_in_browser(chromium, port)
    assert process.returncode == 130, "Ctrl-C stops the server with the usual status"


def test_the_live_page_steps_the_world(scenario, run_dir, tmp_path, chromium):
    pytest.importorskip("solara", reason="the dashboard needs the viz extra")
    port = _free_port()
    out = tmp_path / "live"
    args = ["run", str(scenario), "--out", str(out), "--dashboard", "--port", str(port)]
    with _serving(args, port, tmp_path / "serve.log") as process:
        assert not list((out / "interactions.parquet").glob("step-*.parquet"))
        _step_in_browser(chromium, port)
        # The page ran a real step of the world: its logs are in the run folder.
        assert [p.name for p in (out / "interactions.parquet").glob("step-*.parquet")] == [
            "step-000001.parquet"
        ]
    assert process.returncode == 130
    # A seeded world steps the same from the page as headless.
    headless, live = FinishedRun(run_dir), FinishedRun(out)
    pd.testing.assert_frame_equal(
        live.interactions, headless.interactions[headless.interactions["step"] == 1]
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _serving(args: list[str], port: int, log: Path):
    """``recworld ARGS`` serving on ``port``, its output in ``log``; Ctrl-C (SIGINT) on
    the way out."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator.cli", *args], stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the dashboard did not start in 60 s"
            time.sleep(0.1)
        _assets_or_skip(port)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "http://127.0.0.1:" in log.read_text()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _assets_or_skip(port: int) -> None:
    """solara's page loads its front end from a CDN through the server's proxy, which
    keeps a copy under sys.prefix/share/solara/cdn; offline and without that copy no
    page can render."""
    base = f"http://127.0.0.1:{port}"
    html = urllib.request.urlopen(base + "/", timeout=30).read().decode()
    for path in re.findall(r'src="(/_solara/cdn/[^"]+)"', html):
        try:
            urllib.request.urlopen(base + path, timeout=30).read(1)
        except OSError:
            pytest.skip(f"solara's front-end asset {path} is neither cached nor reachable")


PLOT_HASHES = """async () => {
    const imgs = [...document.querySelectorAll('img')].filter(i => i.naturalWidth > 100);
    return Promise.all(imgs.map(async img => {
        const bytes = await (await fetch(img.src)).arrayBuffer();
        const digest = await crypto.subtle.digest('SHA-256', bytes);
        return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
    }));
}"""


def _step_in_browser(browser, port: int) -> None:
    """The page loads at step 0 with five plots; Step shows step 1 and redraws all five."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.goto(f"http://127.0.0.1:{port}/")
    tab.get_by_text("Step: 0").wait_for(timeout=30_000)
    tab.wait_for_function(_plots_shown(5), timeout=30_000)
    before, changed = tab.evaluate(PLOT_HASHES), _srcs_changed(tab)
    tab.get_by_role("button", name="Step", exact=True).click()
    tab.get_by_text("Step: 1").wait_for(timeout=30_000)
    tab.wait_for_function(f"{_plots_shown(5)} && {changed}", timeout=30_000)
    after = tab.evaluate(PLOT_HASHES)
    assert len(before) == len(after) == 5
    assert all(a != b for a, b in zip(before, after, strict=True)), "every plot redrawn"
    tab.get_by_role("button", name="Agents").click()
    tab.get_by_text("Decisions, with the user's reasons").wait_for(timeout=30_000)
    tab.get_by_role("button", name="Items").click()
    tab.get_by_text("AgentCF note (who it suits)").wait_for(timeout=30_000)


def _plots_shown(count: int) -> str:
    return (
        "[...document.querySelectorAll('img')]"
        f".filter(i => i.complete && i.naturalWidth > 100).length === {count}"
    )


def _srcs_changed(tab) -> str:
    """A JavaScript condition: no image shows any of the images shown now."""
    srcs = tab.eval_on_selector_all("img", "imgs => imgs.map(i => i.src)")
    return f"[...document.querySelectorAll('img')].every(i => !{srcs!r}.includes(i.src))"
