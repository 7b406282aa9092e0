"""The table at the top of the report: what ran, and its headline numbers."""

from __future__ import annotations

import pandas as pd

from simulator.stats import Estimate, mean_ci
from simulator.report.run import FinishedRun


def summary_rows(run: FinishedRun, arm_totals: pd.DataFrame) -> list[tuple[str, str]]:
    """``(measure, value)`` rows; per-arm values follow the overall one when there are arms."""
    config = run.config
    log = run.interactions
    watches = log[log["action"] == "watch"]
    llm = run.llm_stats.get("totals", {})
    exposures = len(log)
    rating = mean_ci(watches["rating"].to_numpy(dtype=float))
    configured = config.get("steps")
    early = configured and run.steps < configured
    ended = "stopped early: every user left, or the run was cut short" if early else "truncated"
    size = (config.get("population") or {}).get("size")
    rows = [
        ("scenario", run.name),
        ("dataset", _dataset(config)),
        ("policy", str(config.get("policy", "llm"))),
        ("recommender", _recommenders(config)),
        ("steps", f"{run.steps} of {configured} ({ended})" if configured else str(run.steps)),
        ("users simulated", "all of the dataset's" if size is None else f"{size:,}"),
        ("users who visited", f"{run.users['user_id'].nunique():,}"),
        ("visits", f"{len(run.users):,}"),
        ("exposures / watches", f"{exposures:,} / {len(watches):,}"),
        (
            "click-through (watches / exposures)",
            _with_arms(len(watches) / exposures if exposures else None, arm_totals, "ctr"),
        ),
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


def _dataset(config: dict) -> str:
    spec = config.get("dataset") or {}
    kind = spec.get("kind", "synthetic")
    if kind == "synthetic":
        return "synthetic (seeded generator)"
    return f"{kind}: {spec.get('path') or '(default path)'}"


def _recommenders(config: dict) -> str:
    arms = config.get("arms") or []
    if arms:
        named = [f"{a.get('label') or a['name']} ({a['name']})" for a in arms]
        text = "A/B arms: " + ", ".join(named)
    else:
        text = (config.get("recommender") or {}).get("name", "?")
    switches = config.get("switches") or []
    if switches:
        text += "; then " + ", ".join(
            f"{s['recommender'].get('label') or s['recommender']['name']} from step {s['at_step']}"
            for s in switches
        )
    return text


def _llm(run: FinishedRun) -> str:
    llm = run.config.get("llm") or {}
    label = run.llm_stats.get("backend") or ":".join(
        p for p in (llm.get("backend"), llm.get("model")) if p
    )
    decisions = llm.get("decisions", "auto")
    if run.config.get("policy") == "utility":
        return f"{label} (unused: policy utility makes no LLM calls)"
    return f"{label}, decisions: {decisions}"


def _with_arms(overall: float | None, totals: pd.DataFrame, column: str) -> str:
    if overall is None:
        return "-"
    return f"{overall:.3f}" + _arms_text(totals, column, "{:.3f}", "; ")


def _rating(rating: Estimate, totals: pd.DataFrame) -> str:
    if rating.n == 0:
        return "- (no rated watches)"
    text = f"{rating.mean:.2f}"
    if rating.n > 1:
        text += f" (95% CI {rating.low:.2f}–{rating.high:.2f}, n={rating.n:,})"
    return text + _arms_text(totals, "mean_rating", "{:.2f}", "; ")


def _arms_text(totals: pd.DataFrame, column: str, fmt: str, lead: str) -> str:
    """``; arm value, arm value`` when there are several arms, else nothing."""
    if len(totals) < 2:
        return ""
    values = [f"{arm} {fmt.format(v)}" for arm, v in totals[column].items() if pd.notna(v)]
    return lead + ", ".join(values)
