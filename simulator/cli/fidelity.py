"""``recworld fidelity``: how human the simulated users are."""

from __future__ import annotations
