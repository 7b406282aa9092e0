"""The ``recworld`` command line; each module registers its commands on one Typer app."""

from __future__ import annotations

import signal
import sys

from simulator.cli import (  # noqa: F401  (imported for their commands)
    compare,
    dashboard,
    evaluate,
    export,
    fidelity,
    inspection,
    llmrec,
    report,
    simulate,
)
from simulator.cli.app import app, err_console, say

__all__ = ["app", "main"]


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised where the process is, so every ``with`` on the way out
    closes what it opened (the memory writer, the run folder's lock). A BaseException
    that is not KeyboardInterrupt: Click does not turn it into "Aborted!" and exit 1."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


STEPPING = ("run", "compare")
"""Commands that write a run's steps as they finish (the interrupt says they are kept)."""


def main() -> None:
    """``recworld``: Ctrl-C and SIGTERM stop it with one line and exit 130 or 143 (128 +
    the signal), no traceback; a run's folder keeps every step finished before."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        steps = "; every step finished before it is in the run folder"
        writes_steps = len(sys.argv) > 1 and sys.argv[1] in STEPPING
        say("stopped:", name + (steps if writes_steps else ""), to=err_console)
        sys.exit(128 + stop.signum)
