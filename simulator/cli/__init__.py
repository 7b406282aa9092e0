"""The ``recworld`` command line; each module registers its commands on one Typer app."""

from simulator.cli import (  # noqa: F401  (imported for their commands)
    compare,
    evaluate,
    export,
    fidelity,
    inspection,
    report,
    simulate,
)
from simulator.cli.app import app

__all__ = ["app"]
