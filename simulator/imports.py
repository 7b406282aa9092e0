"""Code that a scenario file names: imported only from modules the user allowed.

A scenario file is data. It may name a class to build (``recommender: {class: ...}``,
``llm.options.class``), but a file from someone else must never run code its reader did
not choose to run. So a named class is imported only when its module lies under a prefix
listed in the ``RECWORLD_ALLOW_IMPORT`` environment variable (comma-separated, set by
whoever runs recworld, never by the file), or when an installed package declares it as an
entry point (``recworld.recommenders``, ``recworld.llm_backends``): installing a package
is choosing to run its code. Only a class is accepted: never a function such as
``os.system``. Callers then check the class against its protocol before they build it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from importlib.metadata import entry_points

from simulator.errors import ScenarioError

ALLOW_ENV = "RECWORLD_ALLOW_IMPORT"
ENTRY_POINT_GROUPS = ("recworld.recommenders", "recworld.llm_backends")
"""Entry-point groups through which installed packages offer classes to scenario files."""


def allowed_prefixes() -> tuple[str, ...]:
    """The module prefixes the environment allows, in the order given."""
    return tuple(p.strip() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip())


def plugins(group: str) -> dict[str, str]:
    """Entry-point name -> ``pkg.module.Class`` for the installed packages' ``group``."""
    return {ep.name: ep.value.replace(":", ".") for ep in entry_points(group=group)}


def is_allowed(module: str) -> bool:
    """Whether ``module`` is one of the allowed prefixes, lies under one, or is the
    module of an installed package's recworld entry point."""
    if any(module == p or module.startswith(p + ".") for p in allowed_prefixes()):
        return True
    return any(
        path.rpartition(".")[0] == module
        for group in ENTRY_POINT_GROUPS
        for path in plugins(group).values()
    )


def _look_where_recworld_runs() -> None:
    """Put the working folder last on ``sys.path``, as ``python -m`` would: the console
    script ``recworld`` does not, and a user's own module next to their scenario should
    import (only modules the user allowed are ever imported)."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.append(here)


def import_class(path: str, field: str) -> type:
    """The class at ``path`` (``pkg.module.Class``), if the user allowed its module.

    Raises:
        ScenarioError: A module not allowed (nothing is imported), a path that does not
            import, or an object that is not a class; the message names ``field``.
    """
    module, _, name = path.rpartition(".")
    if not module or not name:
        raise ScenarioError(
            f"{field}: {path!r} is not an import path; give one such as mypkg.recs.MyClass"
        )
    if not is_allowed(module):
        top = module.split(".")[0]
        raise ScenarioError(
            f"{field}: {path!r} is code, and a scenario file runs only code you allow; "
            f"set {ALLOW_ENV}={top} (comma-separated module prefixes) to allow it"
        )
    _look_where_recworld_runs()
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ScenarioError(
            f"{field}: cannot import {path!r} ({exc}); give a module path such as "
            "mypkg.recs.MyClass, importable from where you run recworld"
        ) from None
    if not inspect.isclass(found):
        raise ScenarioError(f"{field}: {path!r} is not a class; name a class to build")
    return found
