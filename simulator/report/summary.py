"""The table at the top of the report: what ran, and its headline numbers."""

from __future__ import annotations

import math

import pandas as pd

from simulator.engagement import log_totals
from simulator.rundir import FinishedRun
from simulator.stats import Estimate, mean_ci


def summary_rows(
    run: FinishedRun, arm_totals: pd.DataFrame, arm_sizes: pd.DataFrame | None = None
) -> list[tuple[str, str]]:
    """``(measure, value)`` rows; per-arm values follow the overall one when there are arms
    (``arm_sizes``: users who visited and exposures per A/B arm, so their balance shows)."""
    config = run.config
    log = run.interactions
    watches = log[log["action"] == "watch"]
    llm = run.llm_totals
    totals = log_totals(log).iloc[0]
    rating = mean_ci(watches["rating"].to_numpy(dtype=float))
    configured = config.steps
    early = run.steps < configured
    ended = "stopped early: every user left, or the run was cut short" if early else "truncated"
    size = config.population.size
    rows = [
        ("scenario", run.name),
        ("dataset", config.dataset.describe()),
        ("policy", config.policy),
        ("recommender", config.describe_recommenders()),
        ("steps", f"{run.steps} of {configured} ({ended})"),
        ("users simulated", "all of the dataset's" if size is None else f"{size:,}"),
        ("users who visited", f"{run.users['user_id'].nunique():,}" + _sizes(arm_sizes, "users")),
        ("visits", f"{len(run.users):,}"),
        (
            "exposures / watches",
            f"{int(totals['exposures']):,} / {int(totals['watches']):,}"
            + _sizes(arm_sizes, "exposures"),
        ),
        ("click-through (watches / exposures)", _with_arms(totals["ctr"], arm_totals, "ctr")),
        ("mean rating", _rating(rating, arm_totals)),
        ("LLM", _llm(run)),
        ("LLM calls / batches", f"{llm.get('calls', 0):,} / {llm.get('batches', 0):,}"),
        (
            "tokens (prompt + completion)",
            f"{llm.get('prompt_tokens', 0):,} + {llm.get('completion_tokens', 0):,}",
        ),
        (
            "cache hits / repairs / failures",
            f"{llm.get('cache_hits', 0):,} / {llm.get('repairs', 0):,} / "
            f"{llm.get('failures', 0):,}",
        ),
        ("run directory", str(run.dir)),
    ]
    return rows


def _llm(run: FinishedRun) -> str:
    llm = run.config.llm
    label = run.llm_stats.get("backend") or ":".join(p for p in (llm.backend, llm.model) if p)
    if not run.config.uses_llm:
        return f"{label} (unused: policy utility makes no LLM calls)"
    mode = llm.decision_mode  # ``auto`` as the run resolved it for this backend
    return f"{label}, decisions: {mode}" + (" (auto)" if llm.decisions == "auto" else "")


def _with_arms(overall: float, totals: pd.DataFrame, column: str) -> str:
    if math.isnan(overall):
        return "-"
    return f"{overall:.3f}" + _arms_text(totals, column, "{:.3f}", "; ")


def _rating(rating: Estimate, totals: pd.DataFrame) -> str:
    if rating.n == 0:
        return "- (no rated watches)"
    text = f"{rating.mean:.2f}"
    if rating.n > 1:
        text += f" (95% CI {rating.low:.2f}–{rating.high:.2f}, n={rating.n:,})"
    return text + _arms_text(totals, "mean_rating", "{:.2f}", "; ")


def _sizes(sizes: pd.DataFrame | None, column: str) -> str:
    """``; column: arm count, arm count`` for the A/B arms, else nothing."""
    if sizes is None:
        return ""
    return f"; {column}: " + ", ".join(f"{arm} {int(n):,}" for arm, n in sizes[column].items())


def _arms_text(totals: pd.DataFrame, column: str, fmt: str, lead: str) -> str:
    """``; arm value, arm value`` when there are several arms, else nothing."""
    if len(totals) < 2:
        return ""
    values = [f"{arm} {fmt.format(v)}" for arm, v in totals[column].items() if pd.notna(v)]
    return lead + ", ".join(values)
