"""``recworld report``: one self-contained page whose plots really decode in a browser."""

import base64
import re
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios.datasets import load_dataset
from simulator.cli import app
from simulator.report import PLOT_IDS, FinishedRun, build_report

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The filter-bubble A/B scenario, small: two arms, genre entropy per user."""
    out = tmp_path_factory.mktemp("report") / "fb"
    args = ["run", "filter-bubble", "--users", "40", "--steps", "4", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def page(run_dir):
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    path = run_dir / "report.html"
    assert str(path) in result.output
    return path


class Figures(HTMLParser):
    """Each ``<figure data-plot>``: its img attributes and caption text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict] = {}
        self.sources: list[str] = []
        self._current: str | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.sources += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "figure" and "data-plot" in attrs:
            self._current = attrs["data-plot"]
            self.figures[self._current] = {"imgs": [], "caption": ""}
        elif tag == "img" and self._current:
            self.figures[self._current]["imgs"].append(attrs)
        elif tag == "figcaption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self._current = None
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption and self._current:
            self.figures[self._current]["caption"] += data


def parse(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    return parser


def test_every_plot_is_a_figure_with_a_png_data_uri_and_a_caption(page):
    figures = parse(page.read_text()).figures
    assert list(figures) == list(PLOT_IDS)
    for plot, figure in figures.items():
        (img,) = figure["imgs"]
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix), plot
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(PNG_SIGNATURE), plot
        assert img.get("alt") and figure["caption"].strip(), plot


def test_the_page_fetches_nothing(page):
    html = page.read_text()
    assert not re.search(r"https?://", html)
    assert all(src.startswith("data:") for src in parse(html).sources)
    assert "<script" not in html and "<link" not in html


def test_summary_and_captions_name_both_arms(page):
    html = page.read_text()
    for text in ("filter-bubble", "click-through", "mean rating", "tokens", "scripted"):
        assert text in html
    entropy = parse(html).figures["genre-entropy"]["caption"]
    assert "popularity" in entropy and "diverse" in entropy
    assert "Gini" in parse(html).figures["exposure-long-tail"]["caption"]


def test_without_the_dataset_the_page_says_so(run_dir):
    html = build_report(FinishedRun(run_dir), dataset_problem="ml-100k: dataset not found")
    assert "not reloaded (ml-100k: dataset not found)" in html
    assert list(parse(html).figures) == list(PLOT_IDS)


def test_an_unrated_dataset_is_named_not_silently_skipped(run_dir):
    run = FinishedRun(run_dir)
    spec = run.config.dataset
    dataset = load_dataset(spec.kind, **spec.options)
    unrated = replace(dataset, interactions=dataset.interactions.assign(rating=np.nan))
    caption = parse(build_report(run, dataset=unrated)).figures["rating-histogram"]["caption"]
    assert "has no ratings" in caption


def test_report_of_a_folder_that_is_no_run_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "run directory" in lines[0]


def test_plots_decode_in_headless_chromium(page, chromium):
    fetched: list[str] = []
    tab = chromium.new_page()
    tab.on("request", lambda request: fetched.append(request.url))
    tab.goto(page.as_uri())
    widths = tab.eval_on_selector_all(
        "figure[data-plot] img",
        """imgs => imgs.map(img => [
            img.closest('figure').dataset.plot, img.complete, img.naturalWidth
        ])""",
    )
    assert [plot for plot, _, _ in widths] == list(PLOT_IDS)
    for plot, complete, width in widths:
        assert complete and width > 0, f"{plot} did not decode"
    assert [url for url in fetched if not url.startswith(("file:", "data:"))] == []


def test_the_summary_names_the_decision_mode_the_run_used():
    """``decisions: auto`` is resolved per backend; the summary says what it became."""
    from types import SimpleNamespace

    from simulator.config import RunConfig
    from simulator.report.summary import _llm

    def line(**llm):
        config = RunConfig.model_validate({"name": "t", "policy": "llm", "llm": llm})
        return _llm(SimpleNamespace(config=config, llm_stats={}))

    assert line(backend="scripted") == "scripted, decisions: json (auto)"
    assert line(backend="smollm2") == "smollm2, decisions: choice (auto)"
    assert line(backend="scripted", decisions="choice") == "scripted, decisions: choice"
