"""The Mesa models the dashboard steps: a finished run replayed, or a live world.

Both are ``mesa.Model``s whose ``step()`` advances one step, and both answer the same
questions (``DashboardModel``): the logs up to the current step, the users' starting
profiles, an item's catalogue entry and an agent's memories. The page components read
only these, so they draw a replay and a live run alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import mesa
import pandas as pd

from agents.profile import ItemProfile, item_profiles
from memory.records import MemoryRecord
from memory.store import MemoryStore
from simulator.dataset import Dataset
from simulator.errors import RecworldError
from simulator.rundir import FinishedRun
from simulator.runlog import EVENT_COLUMNS, INTERACTION_COLUMNS, USER_COLUMNS, read_log
from simulator.world import World


@dataclass(frozen=True)
class Logs:
    """A run's logs from step 1 to the model's current step."""

    interactions: pd.DataFrame
    events: pd.DataFrame
    users: pd.DataFrame
    """The visitors' per-step measures (``users.parquet``): arm and genre entropies."""


class DashboardModel(mesa.Model):
    """What the page reads, the same for a replayed and a live run."""

    name: str
    run_dir: Path
    churn_after: int
    mode: str
    """``replay`` or ``live``, for the page's title."""

    def params(self) -> dict[str, object]:
        """What Mesa's reset passes to this class to build the model again from step 0."""
        raise NotImplementedError

    def logs(self) -> Logs:
        raise NotImplementedError

    def profiles(self) -> pd.DataFrame:
        """The simulated users as the run started: profile, traits, activity and arm."""
        return self._profiles

    @cached_property
    def _profiles(self) -> pd.DataFrame:
        """Read once: the world writes the file when it starts and never again."""
        path = self.run_dir / "profiles.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=["user_id", "arm"])

    def catalogue(self) -> pd.Index:
        """Every item id the long tail counts (never-shown items included where known)."""
        raise NotImplementedError

    def item(self, item_id: str) -> ItemProfile | None:
        """The item's catalogue entry as the agents see it now; ``None`` if unknown."""
        raise NotImplementedError

    def memories(self, owner: str) -> list[MemoryRecord] | None:
        """``owner``'s memories written so far (``item:ID`` for an item agent), oldest
        first; ``None`` when the run kept no memory store to read."""
        raise NotImplementedError


class RunReplay(DashboardModel):
    """A finished run, replayed from its logs: ``step()`` reveals one more logged step.

    Nothing is simulated again, so a replay is instant and exact: its ``metrics()`` are
    the logged rows, collected by Mesa's ``DataCollector`` one step at a time.

    Args:
        run: The run directory, read back.
        dataset: The run's dataset, for titles and the full catalogue; ``None`` shows ids.
        memories: The run's memory store (opened by the caller), or ``None``.
    """

    mode = "replay"

    def __init__(
        self,
        run: FinishedRun,
        dataset: Dataset | None = None,
        memories: MemoryStore | None = None,
    ) -> None:
        super().__init__(seed=run.config.seed)
        self.run = run
        self.name = run.name
        self.run_dir = run.dir
        self.churn_after = run.config.churn_after
        self.dataset = dataset
        self.store = memories
        self.total_steps = run.steps
        self._logged = run.metrics.reset_index(drop=True)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                column: (lambda m, c=column: m._logged[c].iloc[m.steps - 1])
                for column in self._logged.columns
            }
        )
        profiles = item_profiles(dataset.items) if dataset is not None else []
        self._items = {p.item_id: p for p in profiles}
        events = run.events
        self._fixes = events.loc[events["kind"] == "correction", ["step", "item_id", "text"]]
        self.running = self.total_steps > 0

    def params(self) -> dict[str, object]:
        return {"run": self.run, "dataset": self.dataset, "memories": self.store}

    def step(self) -> None:
        """Reveal the next logged step; past the last one, stay on it (Mesa has already
        counted the step, so the count is set back)."""
        if self.steps > self.total_steps:
            self.steps = self.total_steps
            self.running = False
            return
        if len(self._logged) >= self.steps:
            self.datacollector.collect(self)
        self.running = self.steps < self.total_steps

    def metrics(self) -> pd.DataFrame:
        """The logged metrics of the steps replayed so far."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def logs(self) -> Logs:
        run, now = self.run, self.steps
        return Logs(
            interactions=run.interactions[run.interactions["step"] <= now],
            events=run.events[run.events["step"] <= now],
            users=run.users[run.users["step"] <= now],
        )

    def catalogue(self) -> pd.Index:
        if self.dataset is not None:
            return pd.Index(self.dataset.items["item_id"])
        return pd.Index(self.run.interactions["item_id"].unique())

    def item(self, item_id: str) -> ItemProfile | None:
        """The dataset's entry, with the note of the last AgentCF correction so far (the
        ``correction`` events carry the item's new note)."""
        profile = self._items.get(item_id)
        if profile is None:
            return None
        fixes = self._fixes
        fixes = fixes[(fixes["item_id"] == item_id) & (fixes["step"] <= self.steps)]
        return (
            profile.model_copy(update={"note": fixes["text"].iloc[-1]}) if len(fixes) else profile
        )

    def memories(self, owner: str) -> list[MemoryRecord] | None:
        if self.store is None:
            return None
        return [r for r in self.store.records(owner) if r.created <= self.steps]


class LiveSession:
    """The live world behind a dashboard, and how to start it over.

    Args:
        open_world: Builds the world; called with ``again=False`` first, then with
            ``again=True`` for each restart (its run folder then holds the last try).
    """

    def __init__(self, open_world: Callable[[bool], World]) -> None:
        self._open = open_world
        self.lock = threading.Lock()
        self.world = open_world(False)

    def restart(self) -> World:
        """Close the world and build it again from step 0, in the same run folder."""
        with self.lock:
            self.world.close()
            self.world = self._open(True)
            return self.world

    def close(self) -> None:
        self.world.close()

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveRun(DashboardModel):
    """A live world stepped from the page: ``step()`` runs one step of the world.

    Mesa's reset builds a new ``LiveRun`` over the same session; if the world has already
    stepped, the session starts it over. Reads wait for a step in progress (Play steps in
    a thread while the page draws), so they never see half of one.
    """

    mode = "live"

    def __init__(self, session: LiveSession) -> None:
        world = session.world if session.world.steps == 0 else session.restart()
        super().__init__(seed=world.seed)
        self.session = session
        self.name = world.name
        if world.log is None:
            raise RecworldError("the dashboard needs a world that logs to a run folder")
        self.run_dir = world.log.dir
        self.churn_after = world.settings.churn_after
        self.running = world.running
        self._cache: tuple[int, Logs] | None = None

    def params(self) -> dict[str, object]:
        return {"session": self.session}

    @property
    def world(self) -> World:
        return self.session.world

    def step(self) -> None:
        """One step of the world (the LLM batches, memories and logs of a real step)."""
        with self.session.lock:
            self.world.step()
        self.running = self.world.running

    def metrics(self) -> pd.DataFrame:
        return self.world.metrics()

    def logs(self) -> Logs:
        """The run folder's logs, read again after each step."""
        with self.session.lock:
            return self._logs()

    def _logs(self) -> Logs:
        if self._cache is None or self._cache[0] != self.world.steps:
            logs = Logs(
                interactions=_read_optional(
                    self.run_dir, "interactions.parquet", INTERACTION_COLUMNS
                ),
                events=_read_optional(self.run_dir, "events.parquet", EVENT_COLUMNS),
                users=_read_optional(self.run_dir, "users.parquet", USER_COLUMNS),
            )
            self._cache = (self.world.steps, logs)
        return self._cache[1]

    def catalogue(self) -> pd.Index:
        with self.session.lock:  # arrivals join during a step
            return pd.Index(list(self.world.items))

    def item(self, item_id: str) -> ItemProfile | None:
        """The item agent's profile now, its AgentCF note included."""
        with self.session.lock:
            return self.world.items.profile(item_id) if item_id in self.world.items else None

    def memories(self, owner: str) -> list[MemoryRecord] | None:
        with self.session.lock:
            return self.world.memory.store.records(owner)


def _read_optional(run_dir: Path, name: str, columns: dict[str, str]) -> pd.DataFrame:
    """A per-step log the world has not written yet reads as empty."""
    if not (run_dir / name).exists():
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return read_log(run_dir, name, columns)
