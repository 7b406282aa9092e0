"""One self-contained HTML page of a run: a summary table and PNG plots, embedded inline.

``simulator.rundir`` reads a run directory back, ``measures`` computes the series,
``findings`` judges what the captions may claim (trends, unbalanced arms), ``plots`` draws
them, ``summary`` and ``page`` write the HTML, and ``build`` puts them together. The
names below load on first use, so importing the package costs nothing until a report is
drawn (matplotlib is slow to import).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.report.build import PLOT_IDS, build_report, write_report
    from simulator.rundir import FinishedRun

__all__ = ["PLOT_IDS", "FinishedRun", "build_report", "write_report"]
_HOMES = {
    "PLOT_IDS": "build",
    "build_report": "build",
    "write_report": "build",
    "FinishedRun": "simulator.rundir",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = _HOMES[name]
    return getattr(import_module(home if "." in home else f"{__name__}.{home}"), name)
