"""Measure the README's figures again and write them in place.

Each figure in README.md sits between ``<!-- figure:NAME -->`` and ``<!-- /figure -->``;
this script recomputes the ones asked for and replaces only what lies between the marks,
so the prose around them stays as written. Figures and their cost here (2 CPU cores):

    tests      test count, and with --run-tests the suite's time (about 13 min)
    demo       the quickstart on SmolLM2: time and mean rating (2-4 min)
    offline    `recworld evaluate` on MovieLens-100K, four recommenders (about 1 min)
    compare    `recworld compare filter-bubble`, three recommenders, 3 seeds (about 1 min)
    cold-start the cold-start scenario: new items' exposures per arm (under 1 min)

    python docs/readme_figures.py                 # every figure but the suite's time
    python docs/readme_figures.py offline compare # just these
    python docs/readme_figures.py --check         # list the figures; write nothing

MovieLens figures need the data (``$RECWORLD_DATA`` or ``../shared/data``); without it they
are left as they are, with a note.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARK = re.compile(r"<!-- figure:([\w-]+) -->(.*?)<!-- /figure -->", re.S)
MINUS = "\N{MINUS SIGN}"


class Skipped(Exception):
    """A figure that cannot be measured here (no data, say): left as it is."""


def figures(text: str) -> dict[str, str]:
    """Each marked figure's name and its current content.

    Raises:
        ValueError: A name is marked twice.
    """
    found: dict[str, str] = {}
    for match in MARK.finditer(text):
        name = match.group(1)
        if name in found:
            raise ValueError(f"README.md marks the figure {name!r} twice")
        found[name] = match.group(2)
    return found


def replace(text: str, name: str, content: str) -> str:
    """``text`` with figure ``name``'s content replaced, everything else unchanged."""

    def swap(match: re.Match[str]) -> str:
        if match.group(1) != name:
            return match.group(0)
        return f"<!-- figure:{name} -->{content}<!-- /figure -->"

    new, count = MARK.subn(swap, text)
    if count == 0 or name not in figures(text):
        raise KeyError(f"README.md has no figure {name!r}")
    return new


def pm(mean: float, half: float, digits: int) -> str:
    """``mean ± half`` with a true minus sign, as the README writes estimates."""
    return f"{mean:.{digits}f} ± {half:.{digits}f}".replace("-", MINUS)


def signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", MINUS)


# -- the figures -----------------------------------------------------------------------


def _data_dir() -> Path:
    for candidate in (os.environ.get("RECWORLD_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "ml-100k").is_dir():
            return Path(candidate)
    raise Skipped("MovieLens-100K not found ($RECWORLD_DATA or ../shared/data)")


def tests_figure(run_tests: bool, old: str) -> str:
    """The test count; the suite's wall time only when asked to run it."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r"(\d+) tests? collected", collected)
    if match is None:
        raise Skipped("pytest --collect-only printed no count")
    count = int(match.group(1))
    minutes = re.search(r"about (\w+) minutes", old)
    said = minutes.group(1) if minutes else "thirteen"
    if run_tests:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=ROOT, check=False)
        said = _words(round((time.perf_counter() - started) / 60))
    return f"about {said} minutes here, {count:,} tests"


def _words(n: int) -> str:
    names = "zero one two three four five six seven eight nine ten eleven twelve".split()
    names += "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    return names[n] if n < len(names) else str(n)


def demo_figure(_: bool, old: str) -> str:
    """``make demo``'s run: the quickstart on SmolLM2, timed, with its mean rating."""
    from simulator.runlog import read_interactions

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "simulator.cli", "run", "quickstart", "--out", f"{tmp}/q"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - started
        rows = read_interactions(f"{tmp}/q")
    ratings = rows.loc[rows["action"] == "watch", "rating"].dropna()
    return f"{seconds:.0f} s here, mean rating {ratings.mean():.2f}"


def offline_figure(_: bool, old: str) -> str:
    """``recworld evaluate`` on MovieLens-100K, leave-last-out, every user."""
    from scenarios import load_dataset
    from simulator.evaluation.offline import evaluate

    started = time.perf_counter()  # as the command would take: loading the data included
    data = load_dataset("movielens-100k", _data_dir() / "ml-100k")
    result = evaluate(
        data, ["random", "most-popular", "item-knn", "als"], split="leave-last-out", k=10
    )
    seconds = time.perf_counter() - started
    s = result.summary.set_index(["recommender", "metric"])
    rows = [
        "| recommender | NDCG@10 | HR@10 | MRR@10 | coverage | exposure Gini | novelty (bits) "
        "| popularity lift |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in result.summary["recommender"].unique():

        def cell(metric: str, digits: int, *, name: str = name) -> str:
            row = s.loc[(name, metric)]
            return pm(row["mean"], row["half_width"], digits)

        def value(metric: str, digits: int, *, name: str = name) -> str:
            return f"{s.loc[(name, metric)]['mean']:.{digits}f}".replace("-", MINUS)

        rows.append(
            f"| {name} | {cell('ndcg', 4)} | {cell('hit_rate', 4)} | {cell('mrr', 4)} "
            f"| {value('coverage', 3)} | {value('gini', 3)} | {value('novelty', 2)} "
            f"| {value('popularity_lift', 2)} |"
        )
    users = result.summary["n"].max()
    head = f"On MovieLens-100K, leave-last-out, all {users} users (about {seconds:.0f} s here):"
    return "\n" + head + "\n\n" + "\n".join(rows) + "\n"


def compare_figure(_: bool, old: str) -> str:
    """``recworld compare filter-bubble --recommenders most-popular,mmr,item-knn --seeds 3``."""
    from scenarios import load_scenario
    from simulator.compose.compare import compare
    from simulator.evaluation.closed_loop import METRICS

    config = load_scenario("filter-bubble")
    names = ["most-popular", "mmr", "item-knn"]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = compare(config, names, 3, out_dir=tmp)
        seconds = time.perf_counter() - started
    shown = {
        "ctr": 3,
        "mean_rating": 2,
        "pages_per_visit": 2,
        "final_entropy": 3,
        "exposure_gini": 3,
    }
    rows = ["| metric | " + " | ".join(names) + " |", "|" + " --- |" * (len(names) + 1)]
    for metric, digits in shown.items():
        cells = []
        for name in names:
            e = result.estimate(name, metric)
            cells.append(pm(e.mean, (e.high - e.low) / 2, digits))
        rows.append(f"| {METRICS[metric]} | " + " | ".join(cells) + " |")
    paired = []
    for name in names[1:]:
        for metric, digits in shown.items():
            e = result.estimate(name, metric, versus=names[0])
            if e.low > 0 or e.high < 0:
                half = (e.high - e.low) / 2
                paired.append(
                    f"{name} {METRICS[metric]} {signed(e.mean, digits)} ± {half:.{digits}f}"
                )
    users, steps = config.population.size, config.settings.steps
    head = (
        f"`filter-bubble` ({users} users, {steps} steps, {config.policy} policy; "
        f"{seconds:.0f} s here), mean ± 95% interval over 3 seeds:"
    )
    tail = (
        f"Paired against {names[0]}, where the interval excludes 0: " + "; ".join(paired) + "."
        if paired
        else f"No paired difference from {names[0]} excludes 0."
    )
    return "\n" + head + "\n\n" + "\n".join(rows) + "\n\n" + tail + "\n"


def cold_start_figure(_: bool, old: str) -> str:
    """The cold-start scenario, as the README's snippet measures it."""
    from scenarios import load_scenario
    from simulator.compose import open_world
    from simulator.runlog import read_events, read_interactions

    config = load_scenario("cold-start")
    with tempfile.TemporaryDirectory() as tmp:
        with open_world(config, run_dir=f"{tmp}/cs") as world:
            world.run()
        rows, events = read_interactions(f"{tmp}/cs"), read_events(f"{tmp}/cs")
    new = set(events.loc[events["kind"] == "arrival", "item_id"])
    after = rows[rows["step"] >= config.arrivals.at_step].assign(
        new=lambda r: r["item_id"].isin(new), watch=lambda r: r["action"] == "watch"
    )
    lines = [
        "| arm | new items' exposures | of all | CTR, new items | CTR, old items |",
        "| --- | --- | --- | --- | --- |",
    ]
    for arm in [spec.label or spec.name for spec in config.arms]:  # the scenario's order
        group = after[after["recommender"] == arm]
        fresh, old_items = group[group["new"]], group[~group["new"]]
        ctr_new = f"{fresh['watch'].mean():.2f}" if len(fresh) else "-"
        lines.append(
            f"| {arm} | {len(fresh)} | {len(group)} | {ctr_new} | {old_items['watch'].mean():.2f} |"
        )
    head = (
        f"In the shipped scenario ({config.llm.backend} backend, seed {config.seed}), "
        f"from step {config.arrivals.at_step} on:"
    )
    return "\n" + head + "\n\n" + "\n".join(lines) + "\n"


FIGURES: dict[str, Callable[[bool, str], str]] = {
    "tests": tests_figure,
    "demo": demo_figure,
    "offline": offline_figure,
    "compare": compare_figure,
    "cold-start": cold_start_figure,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"figures to redo (default: all): {list(FIGURES)}")
    parser.add_argument("--run-tests", action="store_true", help="time the whole test suite")
    parser.add_argument("--check", action="store_true", help="list the figures; write nothing")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    marked = figures(text)
    unknown = sorted(set(args.names) - set(FIGURES)) + sorted(set(marked) - set(FIGURES))
    if unknown:
        print(f"unknown figure(s) {unknown}; known: {list(FIGURES)}", file=sys.stderr)
        return 2
    if args.check:
        for name in FIGURES:
            print(f"{name:10} {'marked' if name in marked else 'NOT MARKED in README.md'}")
        return 0 if set(marked) == set(FIGURES) else 1
    for name in args.names or list(FIGURES):
        if name not in marked:
            print(f"{name}: not marked in {args.readme.name}; skipped", file=sys.stderr)
            continue
        started = time.perf_counter()
        try:
            content = FIGURES[name](args.run_tests, marked[name])
        except Skipped as why:
            print(f"{name}: left as it is ({why})", file=sys.stderr)
            continue
        # Read again: the file may have been edited while the figure was measured.
        args.readme.write_text(replace(args.readme.read_text(), name, content))
        print(f"{name}: written ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
