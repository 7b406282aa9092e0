"""docs/readme_figures.py: the README's figures are marked, and redoing one rewrites only
what lies between its marks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "docs/readme_figures.py")
figures_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures_script)


def test_every_figure_is_marked_once_and_has_a_generator():
    marked = figures_script.figures((ROOT / "README.md").read_text())
    assert set(marked) == set(figures_script.FIGURES)
    assert figures_script.main(["--check"]) == 0


def test_replace_touches_only_the_named_figure():
    text = (
        "before <!-- figure:a -->old a<!-- /figure --> middle\n"
        "<!-- figure:b -->\nold b\n<!-- /figure -->\nafter\n"
    )
    new = figures_script.replace(text, "b", "\nnew b\n")
    assert new == (
        "before <!-- figure:a -->old a<!-- /figure --> middle\n"
        "<!-- figure:b -->\nnew b\n<!-- /figure -->\nafter\n"
    )
    with pytest.raises(KeyError, match="no figure 'c'"):
        figures_script.replace(text, "c", "x")
    with pytest.raises(ValueError, match="twice"):
        figures_script.figures(text + "<!-- figure:a -->again<!-- /figure -->")


def test_estimates_are_written_with_a_true_minus_sign():
    assert figures_script.pm(-0.25, 0.125, 3) == "\N{MINUS SIGN}0.250 ± 0.125"
    assert figures_script.signed(0.5, 2) == "+0.50"


def test_unknown_figure_is_refused(capsys):
    assert figures_script.main(["no-such-figure", "--check"]) == 2
    assert "unknown figure" in capsys.readouterr().err


def test_redoing_the_cold_start_figure_rewrites_its_table_only(tmp_path):
    readme = tmp_path / "README.md"
    original = (ROOT / "README.md").read_text()
    stale = figures_script.replace(original, "cold-start", "\nstale\n")
    readme.write_text(stale)
    assert figures_script.main(["cold-start", "--readme", str(readme)]) == 0
    text = readme.read_text()
    table = figures_script.figures(text)["cold-start"]
    assert "stale" not in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["collaborative", "content", "llm"]
    # Outside the marks nothing changed.
    assert figures_script.replace(text, "cold-start", "\nstale\n") == stale
