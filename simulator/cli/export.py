"""``recworld export``: a run's logs as parquet, csv, jsonl or RecBole atomic files."""

from __future__ import annotations
