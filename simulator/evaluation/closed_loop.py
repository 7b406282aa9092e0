"""One closed-loop run's numbers, read from its run directory (``simulator.rundir``).

Every compared metric is computed here from the logs alone, so a finished comparison can
be re-measured, and running worlds in parallel processes cannot change a number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.engagement import log_totals
from simulator.errors import RecworldError
from simulator.rundir import FinishedRun
from simulator.stats import gini
from simulator.types import ExitReason

METRICS: dict[str, str] = {
    "ctr": "click-through",  # watched / exposed
    "watch_rate": "visits with a watch",
    "mean_rating": "mean rating",
    "pages_per_visit": "pages per visit",
    "page_limit_share": "visits ending at page limit",
    "interview_score": "interview score (1-10)",
    "final_entropy": "genre entropy, last step",  # bits; the last step that had visitors
    "exposure_gini": "exposure Gini",  # over the whole catalogue, unseen items as zeros
    "llm_tokens": "LLM tokens",  # prompt + completion
    "llm_calls": "LLM calls",
}
"""Every compared metric, by its column name, with a label for tables."""


def run_metrics(
    run: FinishedRun | str | Path, *, catalogue_items: int | None = None
) -> dict[str, float]:
    """One run's numbers, read from its run directory.

    Args:
        run: A finished (or partly finished) run, or its directory.
        catalogue_items: Items in the whole catalogue, for the exposure Gini; items never
            shown count as zeros. ``None`` counts only the items that were shown, which
            understates concentration.

    Returns:
        ``steps``, ``visits``, ``exposures``, ``watches``, ``catalogue_items`` and every
        metric in ``METRICS``; NaN where a metric is undefined (no ratings, no interviews).

    Raises:
        RecworldError: Not a run directory, or a run that never finished a step.
    """
    run = run if isinstance(run, FinishedRun) else FinishedRun(run)
    if not (run.dir / "llm_stats.json").exists():
        raise RecworldError(
            f"{run.dir / 'llm_stats.json'}: not found; is {run.dir} a finished recworld run?"
        )
    rows = run.interactions
    events = run.events
    watched = rows["action"] == "watch"
    per_visit = watched.groupby([rows["step"], rows["user_id"]]).any()
    exits = events[events["kind"] == "exit"]
    interviews = events[events["kind"] == "interview"]
    counts = rows["item_id"].value_counts().to_numpy()
    if catalogue_items is not None:
        if catalogue_items < len(counts):
            raise ValueError(
                f"catalogue_items={catalogue_items} but {len(counts)} items were shown"
            )
        counts = np.concatenate([counts, np.zeros(catalogue_items - len(counts))])
    totals = run.llm_totals
    engagement = log_totals(rows).iloc[0]
    curve = entropy_curve(run)
    return {
        "steps": len(curve),
        "visits": len(per_visit),
        "exposures": len(rows),
        "watches": int(watched.sum()),
        "catalogue_items": len(counts),
        "ctr": float(engagement["ctr"]),
        "watch_rate": _mean(per_visit),
        "mean_rating": float(engagement["mean_rating"]),
        "pages_per_visit": _mean(exits["value"]),
        "page_limit_share": _mean(exits["text"] == ExitReason.PAGE_LIMIT),
        "interview_score": _mean(interviews["value"].dropna()),
        # The last step with visitors: a quiet last step would otherwise read as NaN.
        "final_entropy": float(curve.dropna().iloc[-1]) if curve.notna().any() else float("nan"),
        "exposure_gini": gini(counts),
        "llm_tokens": float(totals.get("prompt_tokens", 0) + totals.get("completion_tokens", 0)),
        "llm_calls": float(totals.get("calls", 0)),
    }


def entropy_curve(run: FinishedRun | str | Path) -> pd.Series:
    """Mean genre entropy (bits) of the exposures of each step's active users, by step.

    Every step of the run appears; a step without visitors is NaN.
    """
    run = run if isinstance(run, FinishedRun) else FinishedRun(run)
    means = run.users.groupby("step")["exposure_entropy"].mean()
    steps = run.metrics.get("step", means.index)
    return means.reindex(pd.Index(np.asarray(steps, int), name="step")).astype(float)


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")
