"""Serving the dashboard: solara's server in this process, over a model made here.

In-process, so the model the command line built (a replay, or a live world with its LLM
and memory store) is the one the page steps: nothing is rebuilt in another process, and
Ctrl-C stops the server and then closes the world in the caller's ``with``.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable

from simulator.dashboard.models import DashboardModel
from simulator.errors import RecworldError

PAGE_MODULE = "simulator.dashboard.page"


def check_can_serve(host: str, port: int) -> None:
    """Raise now, before a run is read or a world built, if serving would fail.

    Raises:
        RecworldError: The ``viz`` extra (solara) is missing, or ``host:port`` is taken.
    """
    try:
        import solara  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise RecworldError(
            f"the dashboard needs the viz extra ({exc.name} is missing); "
            "install it with pip install 'recworld[viz]'"
        ) from None
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RecworldError(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                "pick another --port"
            ) from None


def serve(
    model: DashboardModel,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard of ``model`` at ``http://host:port`` until Ctrl-C (or SIGTERM).

    Raises:
        RecworldError: As ``check_can_serve``.
    """
    check_can_serve(host, port)
    # solara reads the page's module name once, when its server app is first imported.
    os.environ["SOLARA_APP"] = PAGE_MODULE
    import solara.server.settings as server_settings
    import solara.settings
    import uvicorn

    server_settings.main.mode = "production"  # no file watching, no auto reload
    # Neither is about this page: Mesa's own components trip solara's hook linter, and a
    # plain-http address other than "localhost" gets a note about cookies in iframes.
    solara.settings.main.check_hooks = "off"
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    from simulator.dashboard.page import Served

    Served.model = model
    config = uvicorn.Config(
        "solara.server.starlette:app",
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    announce(f"http://{host}:{port}")
    uvicorn.Server(config).run()
