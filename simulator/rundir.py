"""A run directory, read back: the one reader behind report, export, compare and
``memory show``.

Everything is read lazily and once: a report needs every log, an export only some. The
configuration comes back as the ``RunConfig`` the run was written from. The dataset is
never loaded here; callers pass it in (``simulator.compose.load_config_dataset``).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import RunConfig
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.runlog import EVENT_COLUMNS, INTERACTION_COLUMNS, USER_COLUMNS, read_log

REQUIRED = ("config.yaml", "interactions.parquet")
"""What makes a folder a run directory."""


class FinishedRun:
    """The logs, metrics, LLM stats and resolved config of one run directory.

    Raises:
        RecworldError: ``path`` is not a directory, or lacks ``config.yaml`` or
            ``interactions.parquet``; the message says what a run directory holds.
    """

    def __init__(self, path: str | Path) -> None:
        self.dir = Path(path)
        if not self.dir.is_dir():
            raise RecworldError(
                f"{self.dir}: no such run directory; pass the --out folder of `recworld run`"
            )
        missing = [name for name in REQUIRED if not (self.dir / name).exists()]
        if missing:
            raise RecworldError(
                f"{self.dir}: not a recworld run directory (no {' or '.join(missing)}); "
                "pass the --out folder of `recworld run`"
            )

    @cached_property
    def config(self) -> RunConfig:
        """The configuration the run was written from."""
        return RunConfig.read(self.dir / "config.yaml")

    @property
    def name(self) -> str:
        return self.config.name or self.dir.name

    @cached_property
    def interactions(self) -> pd.DataFrame:
        return read_log(self.dir, "interactions.parquet", INTERACTION_COLUMNS)

    @cached_property
    def events(self) -> pd.DataFrame:
        return self._optional_log("events.parquet", EVENT_COLUMNS)

    @cached_property
    def users(self) -> pd.DataFrame:
        return self._optional_log("users.parquet", USER_COLUMNS)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        path = self.dir / "metrics.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    @cached_property
    def llm_stats(self) -> dict[str, Any]:
        path = self.dir / "llm_stats.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RecworldError(f"{path}: not valid JSON ({exc}); rerun the scenario") from None

    @property
    def llm_totals(self) -> dict[str, float]:
        """Calls, batches, tokens, cache hits, repairs and failures over the whole run."""
        return self.llm_stats.get("totals", {})

    @property
    def steps(self) -> int:
        """Steps actually run (a terminated run stops before ``config.steps``)."""
        frames = [f["step"] for f in (self.metrics, self.interactions) if "step" in f and len(f)]
        return int(max(f.max() for f in frames)) if frames else 0

    @property
    def arms(self) -> list[str]:
        """The A/B arm labels, in the scenario's order; empty for a single recommender."""
        return self.config.arm_names

    @cached_property
    def arrived_items(self) -> set[str]:
        """Items that entered mid-run (cold start): the world held back their history."""
        events = self.events
        return set(events.loc[events["kind"] == "arrival", "item_id"]) if len(events) else set()

    def history(self, dataset: Dataset) -> pd.DataFrame:
        """The dataset's interactions as the world trained on them (arrivals' history out)."""
        inter = dataset.interactions
        if self.arrived_items:
            inter = inter[~inter["item_id"].isin(self.arrived_items)]
        return inter

    def clock(self, dataset: Dataset) -> int:
        """The dataset's last timestamp: the world stamps a step's watches ``clock + step``."""
        stamps = self.history(dataset)["timestamp"]
        return int(stamps.max()) if len(stamps) else 0

    def _optional_log(self, name: str, types: dict[str, str]) -> pd.DataFrame:
        """Runs written before a log existed lack its folder; they read as empty."""
        if not (self.dir / name).exists():
            return pd.DataFrame({column: pd.Series(dtype=kind) for column, kind in types.items()})
        return read_log(self.dir, name, types)
