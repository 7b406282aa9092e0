"""``recworld compare``: closed-loop A/B of recommenders across seeds."""

from __future__ import annotations
