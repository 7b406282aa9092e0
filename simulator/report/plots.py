"""The report's figures, drawn with matplotlib's Agg renderer (``png`` turns one into bytes).

Figures are built from ``matplotlib.figure.Figure`` directly, never through ``pyplot``:
no global backend switch, no window, no figure left open, and a notebook that imports
this keeps its own backend. matplotlib is imported on first use, so the CLI starts fast.

Two rules hold for every figure. A linear y-axis starts at zero unless the panel draws
95% intervals: a zoomed axis makes small wiggles look large, and the intervals show how
large they really are. (Log axes, the long tail's, have no zero; they show complete
counts, not estimates.) And every legend sits outside the axes, above the panels, so it
can cover no data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.report.measures import RatingShares

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH = 10.0  # inches; at DPI this is 1,000 px, readable on a laptop screen
PANEL_HEIGHT = 3.6
DPI = 100
DATASET_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.6}
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


@dataclass(frozen=True)
class Panel:
    """One subplot of per-arm lines over steps: ``frame`` has step, arm and ``column``,
    plus the two columns of a 95% interval when ``interval`` names them. Without one, the
    y-axis starts at zero."""

    title: str
    ylabel: str
    frame: pd.DataFrame
    column: str
    interval: tuple[str, str] | None = None


def colours(arms: Sequence[str]) -> dict[str, str]:
    """One stable colour per arm, in the scenario's arm order."""
    return {arm: _PALETTE[i % len(_PALETTE)] for i, arm in enumerate(arms)}


def arm_lines(panels: Sequence[Panel], arms: Sequence[str]) -> Figure:
    """Side-by-side panels, each with one line per arm over steps, one shared legend."""
    fig, axes = _figure(len(panels))
    palette = colours(arms)
    for ax, panel in zip(axes, panels, strict=True):
        for arm in arms:
            rows = panel.frame[panel.frame["arm"] == arm].sort_values("step")
            if rows.empty:
                continue
            colour = palette[arm]
            ax.plot(rows["step"], rows[panel.column], marker="o", ms=4, color=colour, label=arm)
            if panel.interval:
                low, high = (rows[c].to_numpy(float) for c in panel.interval)
                ax.fill_between(rows["step"], low, high, color=colour, alpha=0.18, lw=0)
        ax.set_title(panel.title)
        ax.set_ylabel(panel.ylabel)
        if panel.interval is None:
            ax.set_ylim(bottom=0)
        _step_axis(ax)
    _legend(fig, axes)
    return fig


def rating_histogram(
    values: np.ndarray,
    simulated: dict[str, RatingShares],
    real: RatingShares | None,
    real_label: str,
) -> Figure:
    """Grouped bars: the share of ratings at each value, per arm and for the dataset."""
    fig, (ax,) = _figure(1, height=PANEL_HEIGHT + 0.4)
    groups = [(f"{label} (n={s.n:,})", s) for label, s in simulated.items()]
    palette = colours(list(simulated))
    if real is not None:
        groups.append((f"{real_label} (n={real.n:,})", real))
    width = 0.8 / max(len(groups), 1)
    for i, (label, shares) in enumerate(groups):
        is_real = real is not None and i == len(groups) - 1
        style = {"color": "0.6", "hatch": "//", "edgecolor": "0.3"} if is_real else {}
        colour = {} if is_real else {"color": palette[list(simulated)[i]]}
        offset = (i - (len(groups) - 1) / 2) * width
        ax.bar(values + offset, shares.shares, width=width, label=label, **style, **colour)
    if not any(s.n for _, s in groups):
        _say(ax, "no ratings to show (see the caption)")
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.set_xlabel("rating")
    ax.set_ylabel("share of ratings")
    ax.set_title("Ratings: simulated watches against the dataset")
    ax.set_ylim(bottom=0)
    _legend(fig, [ax])
    return fig


def long_tail(
    curves: dict[str, np.ndarray], ginis: dict[str, float], arms: Sequence[str]
) -> Figure:
    """Left: each item's share of exposures by rank (log-log). Right: cumulative share
    against the share of the catalogue (a Lorenz curve; Gini in the legend)."""
    fig, (rank_ax, lorenz_ax) = _figure(2)
    palette = colours(arms)
    for name, counts in curves.items():
        style = DATASET_STYLE if name == "dataset" else {"color": palette.get(name, "k")}
        label = "dataset (training log)" if name == "dataset" else name
        total = counts.sum()
        if total == 0:
            continue
        shown = counts[counts > 0]
        rank_ax.plot(np.arange(1, len(shown) + 1), shown / total, **style)
        cumulative = np.concatenate([[0.0], np.cumsum(counts[::-1]) / total])
        catalogue = np.linspace(0.0, 1.0, len(cumulative))
        lorenz_ax.plot(catalogue, cumulative, label=f"{label}: Gini {ginis[name]:.2f}", **style)
    rank_ax.set_xscale("log")
    rank_ax.set_yscale("log")
    rank_ax.set_xlabel("item rank by exposures (log)")
    rank_ax.set_ylabel("share of exposures (log)")
    rank_ax.set_title("Long tail of exposure")
    lorenz_ax.plot([0, 1], [0, 1], color="0.8", lw=1)
    lorenz_ax.set_xlabel("share of catalogue (least exposed first)")
    lorenz_ax.set_ylabel("cumulative share of exposures")
    lorenz_ax.set_title("Concentration (Lorenz curve)")
    lorenz_ax.set_ylim(bottom=0)
    _legend(fig, [lorenz_ax])
    if not curves:
        _say(rank_ax, "no exposures")
    return fig


def llm_cost(frame: pd.DataFrame, note: str | None) -> Figure:
    """Left: prompt and completion tokens per step (stacked). Right: calls and batches."""
    fig, (tokens_ax, calls_ax) = _figure(2)
    steps = frame["step"].to_numpy()
    prompt = frame["prompt_tokens"].to_numpy()
    tokens_ax.bar(steps, prompt, color="#1f77b4", label="prompt")
    tokens_ax.bar(
        steps, frame["completion_tokens"], bottom=prompt, color="#ff7f0e", label="completion"
    )
    tokens_ax.set_title("Tokens per step")
    tokens_ax.set_ylabel("tokens")
    calls_ax.plot(steps, frame["calls"], marker="o", ms=4, color="#2ca02c", label="calls")
    calls_ax.plot(steps, frame["batches"], marker="s", ms=4, color="#9467bd", label="batches")
    if frame["cache_hits"].sum():
        calls_ax.plot(steps, frame["cache_hits"], marker="^", ms=4, color="0.4", label="cache hits")
    calls_ax.set_title("LLM calls and batches per step")
    calls_ax.set_ylabel("count")
    for ax in (tokens_ax, calls_ax):
        _step_axis(ax)
        ax.set_ylim(bottom=0)
        if note:  # all zero: say so instead of drawing an axis of meaningless decimals
            ax.set_ylim(0, 1)
            ax.set_yticks([0])
            _say(ax, note)
    _legend(fig, [tokens_ax, calls_ax])
    return fig


# -- shared plumbing ---------------------------------------------------------------------


def _figure(panels: int, height: float = PANEL_HEIGHT) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, color="0.92")
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def _step_axis(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the figure, above the panels (constrained layout makes room for it):
    a legend inside an axes can cover a bar or a line."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(
            list(entries.values()),
            list(entries),
            loc="outside upper center",
            ncols=min(len(entries), 5),
            frameon=False,
        )


def _say(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    # No metadata: the same run gives the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
