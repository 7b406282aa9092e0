"""The run directory: resolved config, per-step logs and LLM stats.

``interactions.parquet`` is a Parquet dataset folder with one file per step, written to a
temporary name and renamed, so a crash loses at most the step in flight and no reader ever
sees a half-written file. ``pandas.read_parquet(run / "interactions.parquet")`` reads it
whole. ``metrics.parquet`` is small and rewritten whole each step, the same atomic way.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from filelock import FileLock, Timeout

from simulator.errors import RecworldError
from simulator.types import Event, Interaction, arrow_columns

INTERACTION_COLUMNS = arrow_columns(Interaction)
EVENT_COLUMNS = arrow_columns(Event)


USER_COLUMNS = {
    "step": "int32",
    "user_id": "string",
    "arm": "string",
    "exposure_entropy": "float64",
    "watched_entropy": "float64",
}


def _schema(types: dict[str, str]):  # a pyarrow.Schema; pyarrow loads only when logs are written
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in types.items()])


LOG_FOLDERS = ("interactions.parquet", "events.parquet", "users.parquet")
"""The per-step Parquet folders of a run."""


class RunLog:
    """Appends a run's rows step by step.

    ``claim`` the folder first: it refuses one that already holds a run unless told to
    overwrite it, so one run never silently mixes into another. Every file is written
    under a hidden temporary name (``.NAME.tmp``, which pandas and pyarrow skip) and
    renamed into place, so a run killed mid-write leaves no half file that a reader sees.

    Args:
        run_dir: Created if missing.
    """

    OWNED = (
        "interactions.parquet",
        "events.parquet",
        "users.parquet",
        "profiles.parquet",
        "metrics.parquet",
        "llm_stats.json",
        "config.yaml",
        "memory",
        "shards",
        "export",
        "report.html",
    )
    """What a run writes (and ``recworld export``/``report`` add); --overwrite clears it all."""

    def __init__(
        self, run_dir: str | Path, *, lock: FileLock | None = None, replay_until: int = 0
    ) -> None:
        self.dir = Path(run_dir)
        self.interactions_dir = self.dir / "interactions.parquet"
        self.interactions_dir.mkdir(parents=True, exist_ok=True)
        self._lock = lock
        self.replay_until = replay_until
        """Steps already on disk (a resumed run): their rows are checked, not written."""
        self._step = 0

    @property
    def replaying(self) -> bool:
        """Whether the step being logged is one the folder already holds."""
        return self._step <= self.replay_until

    @classmethod
    def finished_steps(cls, run_dir: str | Path) -> int:
        """How many steps the folder holds whole: ``metrics.parquet``'s rows (written after
        a step's log files), and 0 for a run stopped in its first step."""
        path = Path(run_dir) / "metrics.parquet"
        if not path.exists():
            return 0
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows

    @classmethod
    def drop_after(cls, run_dir: str | Path, step: int) -> None:
        """Remove what a stopped run wrote past ``step``: later step files and any
        half-written temporary file."""
        folder = Path(run_dir)
        for name in LOG_FOLDERS:
            for path in (folder / name).glob("*"):
                stem = path.name.removeprefix(".").split(".")[0]
                later = stem.startswith("step-") and int(stem[5:]) > step
                if later or path.name.startswith("."):
                    path.unlink()
        for path in folder.glob(".*.tmp"):
            path.unlink()

    @classmethod
    def log_files(cls, run_dir: str | Path) -> dict[str, bytes]:
        """The bytes of every log file a seeded run writes the same way each time, by path
        within the folder: the metrics and each step file (``llm_stats.json`` holds
        latencies, so it is left out). Two runs are the same run when these are equal."""
        folder = Path(run_dir)
        files = {"metrics.parquet": (folder / "metrics.parquet").read_bytes()}
        for name in LOG_FOLDERS:
            for path in sorted((folder / name).iterdir()):
                files[f"{name}/{path.name}"] = path.read_bytes()
        return files

    LOCK = ".recworld.lock"
    """The lock file a running run holds in its folder (hidden, so readers skip it)."""

    @classmethod
    def lock(cls, run_dir: str | Path) -> FileLock:
        """Hold the run folder for one run: a second run (or ``--overwrite``) into the same
        folder is refused while this one lives. The operating system frees the lock when
        the process dies, even by ``kill -9``.

        Raises:
            RecworldError: Another process holds the folder.
        """
        path = Path(run_dir) / cls.LOCK
        lock = FileLock(path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RecworldError(
                f"{run_dir}: another run is writing to this folder; wait for it to finish, "
                "or choose another --out"
            ) from None
        return lock

    def close(self) -> None:
        """Release the folder (the run is over, or stopped)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @classmethod
    def claim(cls, run_dir: str | Path, *, overwrite: bool = False) -> None:
        """Refuse a folder that holds a run (or clear it with ``overwrite``); create nothing.

        Raises:
            RecworldError: ``run_dir`` holds a run and ``overwrite`` is not set.
        """
        folder = Path(run_dir)
        if not overwrite and any((folder / name).exists() for name in cls.OWNED):
            raise RecworldError(
                f"{folder}: already holds a run; choose another --out, "
                "or pass --overwrite to replace it"
            )
        cls._remove_owned(folder, quiet=False)

    @classmethod
    def remove_partial(
        cls, run_dir: str | Path, *, created: Path | None, owned: bool = True
    ) -> None:
        """Undo a run that failed before its first step: the folders it created
        (``created``, the topmost) or, in a folder that was there, what a run writes and
        its released lock file (``owned``; only once this run held the lock and ``claim``
        found the folder free of another run)."""
        folder = Path(run_dir)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
            return
        if not owned:
            return
        (folder / cls.LOCK).unlink(missing_ok=True)  # released by the caller, ours to remove
        cls._remove_owned(folder, quiet=True)

    @classmethod
    def _remove_owned(cls, folder: Path, *, quiet: bool) -> None:
        """Everything a run writes in ``folder`` (``OWNED``), and nothing else; ``quiet``
        when undoing a failure, so a leftover file never hides the error that caused it."""
        for name in cls.OWNED:
            path = folder / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=quiet)
            elif path.exists():
                try:
                    path.unlink()
                except OSError:
                    if not quiet:
                        raise

    def write_config(self, config: dict[str, Any]) -> None:
        """The resolved scenario, as ``config.yaml``."""
        _atomic_write_text(self.dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def append_interactions(
        self, step: int, rows: Sequence[Interaction], *, timestamp: int | None = None
    ) -> Path:
        """Write one step's exposures as their own Parquet file (possibly empty).

        ``timestamp`` is the step's simulated time, written for every row (the rows are
        not copied to carry it); None keeps the rows' own.
        """
        columns = {name: [getattr(r, name) for r in rows] for name in INTERACTION_COLUMNS}
        columns["action"] = [str(a) for a in columns["action"]]
        if timestamp is not None:
            columns["timestamp"] = [timestamp] * len(rows)
        return self._append("interactions.parquet", step, columns, INTERACTION_COLUMNS)

    def append_events(self, step: int, events: Sequence[Event]) -> Path:
        """Write one step's other events (exits, searches, chats, interviews, item memory)."""
        columns = {name: [getattr(e, name) for e in events] for name in EVENT_COLUMNS}
        return self._append("events.parquet", step, columns, EVENT_COLUMNS)

    def append_users(self, step: int, frame: pd.DataFrame) -> Path:
        """Write one step's per-user measures (genre entropy and the like)."""
        return self._append("users.parquet", step, frame.to_dict("list"), USER_COLUMNS)

    def _append(
        self, name: str, step: int, columns: dict[str, list], types: dict[str, str]
    ) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict(columns, schema=_schema(types))
        folder = self.dir / name
        folder.mkdir(exist_ok=True)
        path = folder / f"step-{step:06d}.parquet"
        self._step = max(self._step, step)
        if self.replaying:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="zstd")
            if not path.exists() or path.read_bytes() != sink.getvalue().to_pybytes():
                raise RecworldError(
                    f"{path}: the replayed step differs from the logged one, so the run "
                    "cannot be resumed identically (a model that answers differently each "
                    "time needs llm.cache, or the code or data changed since)"
                )
            return path
        tmp = _hidden_tmp(path)
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        return path

    def write_profiles(self, profiles: pd.DataFrame) -> None:
        """The simulated users as they start: ``profiles.parquet``, one row per user (a
        resumed run keeps the one its first start wrote)."""
        if self.replay_until > 0:
            return
        _atomic_write_frame(self.dir / "profiles.parquet", profiles)

    def write_metrics(self, metrics: pd.DataFrame) -> None:
        if self.replaying:
            return
        _atomic_write_frame(self.dir / "metrics.parquet", metrics)

    def write_llm_stats(self, stats: dict[str, Any]) -> None:
        if self.replaying:
            return
        _atomic_write_text(self.dir / "llm_stats.json", json.dumps(stats, indent=2))


def read_interactions(run_dir: str | Path) -> pd.DataFrame:
    """All exposures of a run, in step order."""
    return read_log(run_dir, "interactions.parquet", INTERACTION_COLUMNS)


def read_events(run_dir: str | Path) -> pd.DataFrame:
    """All events of a run (exits, searches, chats, interviews, item memory), in step order."""
    return read_log(run_dir, "events.parquet", EVENT_COLUMNS)


def read_log(run_dir: str | Path, name: str, types: dict[str, str] | None = None) -> pd.DataFrame:
    """One of a run's per-step Parquet folders, concatenated."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(run_dir) / name
    if not path.exists():
        raise RecworldError(f"{path}: not found; is {run_dir} a recworld run directory?")
    parts = sorted(path.glob("step-*.parquet"))
    if not parts:
        return _schema(types).empty_table().to_pandas() if types else pd.DataFrame()
    return pa.concat_tables(pq.read_table(p) for p in parts).to_pandas()


def _hidden_tmp(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: a dot file, which
    pyarrow's dataset discovery (and so ``pd.read_parquet`` of a folder) ignores."""
    return path.with_name(f".{path.name}.tmp")


def _atomic_write_frame(path: Path, frame: pd.DataFrame) -> None:
    """``frame`` as one Parquet file, written under a hidden name and renamed into place."""
    tmp = _hidden_tmp(path)
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _hidden_tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)
