"""Put a run's report together: measures, plots and captions, then the page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.dataset import Dataset, rating_scale
from simulator.ratings import FIVE_STARS
from simulator.report import measures, plots
from simulator.report.findings import BALANCE, describe_trends, imbalance
from simulator.report.page import Plot, render
from simulator.report.summary import summary_rows
from simulator.rundir import FinishedRun

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_IDS = (
    "ctr",
    "mean-rating",
    "retention",
    "genre-entropy",
    "rating-histogram",
    "exposure-long-tail",
    "llm-cost",
)
"""The ``data-plot`` ids every report carries, in page order."""


def write_report(
    run: FinishedRun,
    out: str | Path | None = None,
    *,
    dataset: Dataset | None = None,
    dataset_problem: str | None = None,
) -> Path:
    """Write the report (default ``RUN/report.html``) and return its path.

    Args:
        run: The run to report on.
        out: Where to write the page.
        dataset: The run's dataset, reloaded from ``config.yaml``: real ratings and the
            training popularity are compared against it. Without it those comparisons are
            left out and the page says why (``dataset_problem``).
    """
    path = Path(out) if out is not None else run.dir / "report.html"
    html = build_report(run, dataset=dataset, dataset_problem=dataset_problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def build_report(
    run: FinishedRun, *, dataset: Dataset | None = None, dataset_problem: str | None = None
) -> str:
    """The report page as HTML text."""
    drafts, notes = draw(run, dataset=dataset, dataset_problem=dataset_problem)
    figures = [Plot(d.id, d.title, plots.png(d.figure), d.caption) for d in drafts]
    sizes = measures.arm_sizes(run, run.arms) if len(run.arms) > 1 else None
    totals = measures.arm_totals(run).reindex(_arm_order(run)).dropna(how="all")
    return render(
        f"recworld report: {run.name}",
        run.config.description,
        summary_rows(run, totals, sizes),
        figures,
        notes,
    )


@dataclass(frozen=True)
class Draft:
    """One figure before it becomes a PNG: its ``data-plot`` id, title and caption."""

    id: str
    title: str
    figure: Figure
    caption: str


def draw(
    run: FinishedRun, *, dataset: Dataset | None = None, dataset_problem: str | None = None
) -> tuple[list[Draft], list[str]]:
    """Every figure of the report, in page order, and the notes for the top of the page."""
    notes: list[str] = []
    arms = _arm_order(run)
    # Only A/B arms split the users; a mid-run switch differs in size by design.
    unbalanced = imbalance(measures.arm_sizes(run, run.arms)) if len(run.arms) > 1 else None
    if unbalanced:
        notes.append(
            f"Unbalanced arms: {unbalanced}. The arms were split into equal shares of users, "
            f"but one has under {BALANCE:.0%} of another's users or exposures, so their "
            "comparisons rest on unequal samples: compare rates rather than totals, and "
            "expect the smaller arm's curves to be noisier."
        )
    if dataset is None:
        notes.append(
            f"The dataset was not reloaded ({dataset_problem or 'none given'}): real ratings, "
            "item genres and training popularity are left out of the comparisons."
        )
    engagement = measures.engagement(run)
    totals = measures.arm_totals(run).reindex(arms).dropna(how="all")
    drafts = [
        _ctr(engagement, totals, arms),
        _mean_rating(engagement, totals, arms),
        _retention(engagement, arms),
        _entropy(run, dataset, arms),
        _ratings(run, dataset, arms, notes),
        _long_tail(run, dataset, arms),
    ]
    if unbalanced:  # every comparison of arms above rests on the unequal samples
        warning = f"Unbalanced arms: {unbalanced}; see the note at the top."
        drafts = [replace(d, caption=f"{d.caption} {warning}") for d in drafts]
    return [*drafts, _llm(run)], notes


def _arm_order(run: FinishedRun) -> list[str]:
    """The scenario's arms first, then any other recommender the logs name (switches)."""
    seen = [*run.arms, *run.interactions["recommender"].unique(), *run.users["arm"].unique()]
    return [str(a) for a in dict.fromkeys(seen) if isinstance(a, str)]


def _per_arm(totals: pd.DataFrame, column: str, fmt: str) -> str:
    values = [f"{arm} {fmt.format(v)}" for arm, v in totals[column].items() if pd.notna(v)]
    return ", ".join(values) if values else "none"


def _ctr(engagement: pd.DataFrame, totals: pd.DataFrame, arms: list[str]) -> Draft:
    panel = plots.Panel("Click-through per step", "watches / exposures", engagement, "ctr")
    trends = describe_trends(engagement, "ctr", arms, "{:+.3f}")
    return Draft(
        "ctr",
        "Click-through",
        plots.arm_lines([panel], arms),
        "Share of exposed items the users watched, per step and arm. Over the run: "
        f"{_per_arm(totals, 'ctr', '{:.3f}')}. Trend over steps: {trends}. (Every trend in "
        "this report is a least-squares slope per step with a 95% interval from the scatter "
        'around it; a curve "rises" or "falls" only when that interval excludes zero.)',
    )


def _mean_rating(engagement: pd.DataFrame, totals: pd.DataFrame, arms: list[str]) -> Draft:
    panel = plots.Panel(
        "Mean rating per step",
        "rating of watched items",
        engagement,
        "mean_rating",
        interval=("rating_low", "rating_high"),
    )
    trends = describe_trends(engagement, "mean_rating", arms, "{:+.2f}")
    return Draft(
        "mean-rating",
        "Mean rating",
        plots.arm_lines([panel], arms),
        "Mean rating the users gave the items they watched, per step and arm, with a 95% t "
        "interval over the step's rated watches (steps without a rated watch are gaps). Over "
        f"the run: {_per_arm(totals, 'mean_rating', '{:.2f}')}. Trend over steps: {trends}.",
    )


def _retention(engagement: pd.DataFrame, arms: list[str]) -> Draft:
    panels = [
        plots.Panel(
            "Pages per visit",
            "pages browsed",
            engagement,
            "pages_per_visit",
            interval=("pages_low", "pages_high"),
        ),
        plots.Panel("Active users", "users who visited", engagement, "visits"),
    ]
    pages = describe_trends(engagement, "pages_per_visit", arms, "{:+.2f}")
    visits = describe_trends(engagement, "visits", arms, "{:+.1f}")
    return Draft(
        "retention",
        "Retention",
        plots.arm_lines(panels, arms),
        "Left: pages a visiting user browsed before leaving, with a 95% t interval over the "
        "step's visits. Right: users who visited in the step. Both per arm. Trend over "
        f"steps, pages per visit: {pages}. Active users: {visits}.",
    )


def _entropy(run: FinishedRun, dataset: Dataset | None, arms: list[str]) -> Draft:
    exposure = measures.exposure_entropy(run)
    panels = [
        plots.Panel(
            "Genre entropy of the step's exposures",
            "bits",
            exposure,
            "mean",
            interval=("low", "high"),
        )
    ]
    if dataset is not None:
        genres = dict(zip(dataset.items["item_id"], dataset.items["genres"], strict=True))
        watched = measures.watched_entropy(run, genres)
        panels.append(
            plots.Panel(
                "Genre entropy of everything watched up to the step",
                "bits",
                watched,
                "mean",
                interval=("low", "high"),
            )
        )
        last = watched.sort_values("step").groupby("arm").last().reindex(arms).dropna()
        final = ", ".join(
            f"{arm} {r['mean']:.2f} (95% CI {r['low']:.2f}–{r['high']:.2f})"
            for arm, r in last.iterrows()
        )
        right = (
            "Right: the entropy of the genres of every item the arm's users watched up to "
            "and including the step, all watches pooled (cumulative: it changes only when "
            "someone watches), with a 95% interval for the arm's population from resampling "
            "its users (entropy from few watches reads low, so the interval may lie above "
            f"the line); at the last step {final or 'no watches'}."
        )
    else:
        right = "The dataset was not reloaded, so watched items have no genres to measure."
    figure = plots.arm_lines(panels, arms)
    trends = describe_trends(exposure, "mean", arms, "{:+.3f}")
    return Draft(
        "genre-entropy",
        "Genre entropy",
        figure,
        "Shannon entropy (bits) of item genres, per arm. Left: of the genres a user was shown "
        "in the step, mean over the step's visitors with a 95% t interval (clipped to the "
        f"range of the users' values); trend over steps: {trends}. {right} A filter bubble "
        "shows as exposure entropy falling over the steps.",
    )


def _ratings(run: FinishedRun, dataset: Dataset | None, arms: list[str], notes: list[str]) -> Draft:
    log = run.interactions
    watched = log[(log["action"] == "watch") & log["rating"].notna()]
    by_arm = {arm: g["rating"].to_numpy(float) for arm, g in watched.groupby("recommender")}
    by_arm = {arm: by_arm[arm] for arm in arms if arm in by_arm}
    real = dataset.interactions["rating"].to_numpy(float) if dataset is not None else None
    real_rated = real[np.isfinite(real)] if real is not None else np.array([])
    # Data without ratings: a run logs its ratings in stars.
    scale = (rating_scale(dataset) or FIVE_STARS) if dataset is not None else None
    values = measures.rating_scale(*by_arm.values(), real_rated, scale=scale)
    simulated = {arm: measures.rating_shares(r, values) for arm, r in by_arm.items()}
    real_shares = measures.rating_shares(real_rated, values) if len(real_rated) else None
    synthetic = dataset is not None and dataset.meta.get("kind") == "synthetic"
    real_label = "synthetic dataset (generated)" if synthetic else "dataset"
    caption = "Share of ratings at each value for the simulated watches, per arm"
    if real_shares is not None:
        everything = measures.rating_shares(watched["rating"].to_numpy(float), values)
        distance = measures.tv_distance(everything, real_shares)
        caption += (
            f", against the {real_label}'s own ratings (hatched). Total-variation distance, "
            f"all simulated ratings against the dataset's: {distance:.3f}."
        )
        if synthetic:
            caption += " The synthetic dataset's ratings come from its seeded generator, "
            caption += "not from people."
    elif dataset is None:
        caption += ". The dataset was not reloaded, so there are no real ratings to compare."
    else:
        caption += f". The dataset ({dataset.name}) has no ratings: nothing real to compare."
        notes.append(
            f"The dataset {dataset.name} is unrated; the rating histogram shows the "
            "simulated ratings only."
        )
    if not len(watched):
        caption += " The run has no rated watches."
    return Draft(
        "rating-histogram",
        "Rating distribution",
        plots.rating_histogram(values, simulated, real_shares, real_label),
        caption,
    )


def _long_tail(run: FinishedRun, dataset: Dataset | None, arms: list[str]) -> Draft:
    if dataset is not None:
        catalogue = pd.Index(dataset.items["item_id"])
        history = run.history(dataset)
        scope = f"the whole catalogue ({len(catalogue):,} items, unexposed ones as zeros)"
    else:
        catalogue = pd.Index(run.interactions["item_id"].unique())
        history = None
        scope = (
            f"the {len(catalogue):,} exposed items only (the dataset was not reloaded, so "
            "Gini is understated)"
        )
    curves = measures.long_tail(run, catalogue, history)
    curves = {k: curves[k] for k in [*arms, "dataset"] if k in curves}
    ginis = measures.ginis(curves)
    gini_text = ", ".join(
        f"{'dataset training log' if k == 'dataset' else k} {v:.3f}" for k, v in ginis.items()
    )
    return Draft(
        "exposure-long-tail",
        "Exposure long tail",
        plots.long_tail(curves, ginis, arms),
        "Items ranked by how often they were exposed, as a share of all exposures (left), and "
        "the cumulative share against the share of the catalogue (right); the dashed line is "
        f"the training log's popularity. Over {scope}. Gini: {gini_text}.",
    )


def _llm(run: FinishedRun) -> Draft:
    frame = measures.llm_per_step(run)
    calls, prompt = int(frame["calls"].sum()), int(frame["prompt_tokens"].sum())
    completion = int(frame["completion_tokens"].sum())
    note = None
    if calls == 0 and frame["cache_hits"].sum() == 0:
        utility = not run.config.uses_llm
        note = "no LLM calls (policy: utility)" if utility else "no LLM calls"
    backend = str(run.llm_stats.get("backend", "") or "unknown")
    scripted = " (the scripted backend runs no model; its token counts are estimates)"
    return Draft(
        "llm-cost",
        "LLM cost",
        plots.llm_cost(frame, note),
        f"Backend {backend}{scripted if backend.startswith('scripted') else ''}: {calls:,} "
        f"calls, {prompt:,} prompt and {completion:,} completion tokens in all "
        f"({int(frame['cache_hits'].sum()):,} answered from the cache, "
        f"{int(frame['failures'].sum()):,} failed).",
    )
