"""``recworld evaluate``: offline metrics of a recommender on a dataset split."""

from __future__ import annotations
