"""Put a run's report together: measures, plots and captions, then the page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.report import measures, plots
from simulator.report.page import Plot, render
from simulator.report.summary import summary_rows
from simulator.rundir import FinishedRun

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
    notes: list[str] = []
    if dataset is None:
        notes.append(
            f"The dataset was not reloaded ({dataset_problem or 'none given'}): real ratings and "
            "training popularity are left out of the comparisons."
        )
    arms = _arm_order(run)
    engagement = measures.engagement(run)
    totals = measures.arm_totals(run).reindex(arms).dropna(how="all")
    figures = [
        _ctr(engagement, totals, arms),
        _mean_rating(engagement, totals, arms),
        _retention(engagement, arms),
        _entropy(run, arms),
        _ratings(run, dataset, arms, notes),
        _long_tail(run, dataset, arms),
        _llm(run),
    ]
    description = run.config.description
    return render(
        f"recworld report: {run.name}", description, summary_rows(run, totals), figures, notes
    )


def _arm_order(run: FinishedRun) -> list[str]:
    """The scenario's arms first, then any other recommender the logs name (switches)."""
    seen = [*run.arms, *run.interactions["recommender"].unique(), *run.users["arm"].unique()]
    return [str(a) for a in dict.fromkeys(seen) if isinstance(a, str)]


def _per_arm(totals: pd.DataFrame, column: str, fmt: str) -> str:
    values = [f"{arm} {fmt.format(v)}" for arm, v in totals[column].items() if pd.notna(v)]
    return ", ".join(values) if values else "none"


def _ctr(engagement: pd.DataFrame, totals: pd.DataFrame, arms: list[str]) -> Plot:
    panel = plots.Panel(
        "Click-through per step", "watches / exposures", engagement, "ctr", ylim=(0, None)
    )
    return Plot(
        "ctr",
        "Click-through",
        plots.arm_lines([panel], arms),
        "Share of exposed items the users watched, per step and arm. Over the run: "
        f"{_per_arm(totals, 'ctr', '{:.3f}')}.",
    )


def _mean_rating(engagement: pd.DataFrame, totals: pd.DataFrame, arms: list[str]) -> Plot:
    panel = plots.Panel(
        "Mean rating per step", "rating of watched items", engagement, "mean_rating"
    )
    return Plot(
        "mean-rating",
        "Mean rating",
        plots.arm_lines([panel], arms),
        "Mean rating the users gave the items they watched, per step and arm (steps without "
        f"a rated watch are gaps). Over the run: {_per_arm(totals, 'mean_rating', '{:.2f}')}.",
    )


def _retention(engagement: pd.DataFrame, arms: list[str]) -> Plot:
    panels = [
        plots.Panel("Pages per visit", "pages browsed", engagement, "pages_per_visit"),
        plots.Panel("Active users", "users who visited", engagement, "visits", ylim=(0, None)),
    ]
    return Plot(
        "retention",
        "Retention",
        plots.arm_lines(panels, arms),
        "Left: pages a visiting user browsed before leaving. Right: users who visited in the "
        "step. Both per arm; falling curves mean users lose interest or leave.",
    )


def _entropy(run: FinishedRun, arms: list[str]) -> Plot:
    panels = [
        plots.Panel(
            title.capitalize(),
            "bits",
            measures.entropy(run, column),
            "mean",
            band=True,
        )
        for column, title in measures.ENTROPY_MEASURES.items()
    ]
    last = run.users[run.users["step"] == run.users["step"].max()] if len(run.users) else None
    final = (
        ", ".join(
            f"{arm} {v:.2f}" for arm, v in last.groupby("arm")["exposure_entropy"].mean().items()
        )
        if last is not None
        else "no visits"
    )
    return Plot(
        "genre-entropy",
        "Genre entropy",
        plots.arm_lines(panels, arms),
        "Shannon entropy (bits) of the genres a user was shown in the step (left) and of "
        "everything they watched so far (right), mean over the step's visitors with a 95% "
        "t interval (clipped to the range of the users' values), per arm. Shrinking entropy "
        f"is a filter bubble. Exposure entropy at the last step: {final}.",
    )


def _ratings(run: FinishedRun, dataset: Dataset | None, arms: list[str], notes: list[str]) -> Plot:
    log = run.interactions
    watched = log[(log["action"] == "watch") & log["rating"].notna()]
    by_arm = {arm: g["rating"].to_numpy(float) for arm, g in watched.groupby("recommender")}
    by_arm = {arm: by_arm[arm] for arm in arms if arm in by_arm}
    real = dataset.interactions["rating"].to_numpy(float) if dataset is not None else None
    real_rated = real[np.isfinite(real)] if real is not None else np.array([])
    scale = dataset.meta.get("rating_scale") if dataset is not None else None
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
    return Plot(
        "rating-histogram",
        "Rating distribution",
        plots.rating_histogram(values, simulated, real_shares, real_label),
        caption,
    )


def _long_tail(run: FinishedRun, dataset: Dataset | None, arms: list[str]) -> Plot:
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
    return Plot(
        "exposure-long-tail",
        "Exposure long tail",
        plots.long_tail(curves, ginis, arms),
        "Items ranked by how often they were exposed, as a share of all exposures (left), and "
        "the cumulative share against the share of the catalogue (right); the dashed line is "
        f"the training log's popularity. Over {scope}. Gini: {gini_text}.",
    )


def _llm(run: FinishedRun) -> Plot:
    frame = measures.llm_per_step(run)
    calls, prompt = int(frame["calls"].sum()), int(frame["prompt_tokens"].sum())
    completion = int(frame["completion_tokens"].sum())
    note = None
    if calls == 0 and frame["cache_hits"].sum() == 0:
        utility = not run.config.uses_llm
        note = "no LLM calls (policy: utility)" if utility else "no LLM calls"
    backend = str(run.llm_stats.get("backend", "") or "unknown")
    scripted = " (the scripted backend runs no model; its token counts are estimates)"
    return Plot(
        "llm-cost",
        "LLM cost",
        plots.llm_cost(frame, note),
        f"Backend {backend}{scripted if backend.startswith('scripted') else ''}: {calls:,} "
        f"calls, {prompt:,} prompt and {completion:,} completion tokens in all "
        f"({int(frame['cache_hits'].sum()):,} answered from the cache, "
        f"{int(frame['failures'].sum()):,} failed).",
    )
