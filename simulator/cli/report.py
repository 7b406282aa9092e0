"""``recworld report``: one self-contained HTML page of a run."""

from __future__ import annotations
