"""A browser dashboard of a run on Mesa's SolaraViz: step it, plot it per arm, look inside
its agents and items.

``RunReplay`` replays a finished run's logs one step at a time; ``LiveRun`` steps a live
world. Both are Mesa models with the same read interface (``DashboardModel``), so one page
(``simulator/dashboard/page.py``) draws either. ``serve`` starts solara's server over one
of them. solara is the optional ``viz`` extra: it is imported only when serving.

The dashboard takes a ready model; the command line opens runs and composes worlds.
"""

from simulator.dashboard.models import DashboardModel, LiveRun, LiveSession, Logs, RunReplay
from simulator.dashboard.server import check_can_serve, serve

__all__ = [
    "DashboardModel",
    "LiveRun",
    "LiveSession",
    "Logs",
    "RunReplay",
    "check_can_serve",
    "serve",
]
