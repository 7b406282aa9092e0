"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The licensed datasets, read in place (never copied into the repo).

    ``$RECWORLD_DATA`` (first existing entry) wins, else ``../shared/data`` next to the repo.
    """
    env = [Path(p) for p in os.environ.get("RECWORLD_DATA", "").split(os.pathsep) if p]
    for candidate in [*env, REPO_ROOT.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    pytest.skip("../shared/data not found; set RECWORLD_DATA")
