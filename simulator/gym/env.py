"""The simulated population as a Gymnasium environment: the agent is the recommender.

Each step, the agent sees which users visit and what they are like, and answers with a
slate for each of them; the world's user agents browse the slates exactly as in a run
(recall, decide, act, remember), and the reward is what they watched and how they rated
it. One episode is one run of a scenario, so everything a scenario sets (policy, LLM,
memory, traits, steps) holds here too.

Observation, for the ``N`` users of the population in population order (``user_ids``):

- ``active`` (``N``, 0/1): the users who visit in the coming step; only their rows of the
  action are shown.
- ``user`` (``N`` × 6, 0–1): visit probability, the activity, conformity and diversity
  levels (0 low, 0.5 medium, 1 high), history length as log(1 + n) / log(1 + the longest
  history as the episode began), capped at 1, and whether the user has left for good.
- ``history`` (``N`` × ``D``): the mean text vector of the user's latest ``history`` items
  (from the data, then what they watched here), in the memory embedder's space; zeros for
  no history. ``item_features`` holds the items' vectors in the same space.
- ``recent`` (``N`` × ``history``): those items' indices, latest last, ``-1`` padding.

Action: ``N`` × ``slate_size · pages`` item indices into ``item_ids``; each active user's
row is cut into pages as a recommender's list is; repeats are dropped, first kept.

Reward: per watch, ``1 + rating_weight · c`` with ``c`` the rating centred on the scale's
middle and scaled to −1…1 (0 when unrated or for implicit data). ``info["user_rewards"]``
splits it by user.

Feedback per slot of the action, in ``info`` after each step (``N`` × slate): ``shown``
(the user reached the item's page), ``watched``, ``rated`` and ``rating`` (on the
dataset's own scale; 0 where ``rated`` is False, since NaN would break equality checks and
a 0-10 scale has ratings of 0). A bandit learns from these; the unshown slots tell it
nothing.

``terminated``: every user has left. ``truncated``: the scenario's steps are done.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from scenarios import load_scenario
from simulator.compose import open_world
from simulator.config import RunConfig
from simulator.dataset import Dataset
from simulator.errors import ScenarioError
from simulator.types import LLM, LLMRequest, LLMResponse, Reaction
from simulator.world import World

USER_FEATURES = ("visit_probability", "activity", "conformity", "diversity", "history", "left")
_LEVEL = {"low": 0.0, "medium": 0.5, "high": 1.0}


class SlateAgent:
    """The environment's agent in the world's recommender slot: it serves the slates of
    the action being stepped, and learns nothing itself (the agent outside does)."""

    name = "agent"

    def __init__(self) -> None:
        self.slates: dict[str, list[str]] = {}

    def fit(self, data: Dataset) -> None:
        """Nothing to fit: the slates come from the action."""

    def update(self, interactions: pd.DataFrame) -> None:
        """Nothing to learn: the reward reaches the agent through ``step``."""

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, list[str]]:
        return {u: self.slates.get(u, [])[:k] for u in user_ids}


class RecworldEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """A scenario's world with the recommender left to the agent (see the module's notes).

    Args:
        scenario: A shipped scenario's name, a scenario file or a ``RunConfig``.
        backend: A ready LLM backend in place of the scenario's (a test double; the
            vector environment's shared gate). It serves every episode, and whoever made
            it closes it; without one, each episode builds the scenario's own.
        rating_weight: How much a rating adds to a watch's reward.
        history: How many latest items the observation summarises per user.
        out: Where each episode's run is logged (``out/episode-0001``, ...); ``None`` keeps
            episodes in memory (a Chroma memory store then lives in a temporary folder).
        seed: The seed of the world built now, for a first ``reset()`` without one
            (default: the scenario's).
        overrides: Scenario fields to override, as for ``load_scenario``.

    Raises:
        ScenarioError: The scenario has A/B arms, recommender switches or item arrivals,
            which leave the agent no single catalogue and slot to act in.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        scenario: str | Path | RunConfig = "quickstart",
        *,
        backend: LLM | None = None,
        rating_weight: float = 0.5,
        history: int = 10,
        out: str | Path | None = None,
        seed: int | None = None,
        **overrides: Any,
    ) -> None:
        config = scenario_config(scenario, overrides)
        for field, value in (
            ("arms", config.arms),
            ("switches", config.switches),
            ("arrivals", config.arrivals),
        ):
            if value:
                raise ScenarioError(
                    f"{field}: an environment's agent is the only recommender and acts on a "
                    f"fixed catalogue; remove {field} from the scenario"
                )
        self.config = config
        self.backend = _Lent(backend) if backend is not None else None
        """A backend given here serves every episode and is never closed by one."""
        self.first_seed = config.seed if seed is None else seed
        """The seed of the world built now, which a first ``reset()`` without one keeps."""
        self.rating_weight = float(rating_weight)
        self.history = int(history)
        self.out = Path(out) if out is not None else None
        self.episode = 0
        self.world: World | None = None
        self._temp: str | None = None
        self._agent = SlateAgent()
        self._open(self.first_seed)
        world = self.world
        assert world is not None
        search = world.items.search
        self.item_ids: list[str] = [p.item_id for p in search.items]
        """Action and ``recent`` indices name these items."""
        self.item_features: np.ndarray = search.vectors()
        """Each item's text vector (row per ``item_ids``), the space of ``history``."""
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self._fresh = True  # the world built here has not stepped: a first reset keeps it
        n_users, n_items = len(world.users), len(self.item_ids)
        slate = config.settings.slate_size * config.settings.pages
        self.action_space = spaces.MultiDiscrete(np.full((n_users, slate), n_items))
        self.observation_space = spaces.Dict(
            {
                "active": spaces.MultiBinary(n_users),
                "user": spaces.Box(0.0, 1.0, (n_users, len(USER_FEATURES)), np.float32),
                "history": spaces.Box(
                    -1.0, 1.0, (n_users, self.item_features.shape[1]), np.float32
                ),
                "recent": spaces.Box(-1, n_items - 1, (n_users, self.history), np.int64),
            }
        )

    # -- the Gymnasium API -----------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """A new episode: the world built from the scenario with ``seed`` as the run's
        seed (so ``reset(seed=7)`` is ``recworld run --seed 7``). Without a seed, the first
        episode uses ``first_seed`` (the scenario's, unless given) and later ones draw
        from the environment's generator."""
        super().reset(seed=seed if seed is not None or self.episode else self.first_seed)
        if seed is None:
            seed = self.first_seed if self.episode == 0 else int(self.np_random.integers(2**31))
        if not (self._fresh and self.world is not None and self.world.seed == seed):
            self._open(seed)
        self._fresh = False
        self.episode += 1
        return self._observe(), self._info(np.zeros(len(self.user_ids)))

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        world = self.world
        if world is None or not world.running:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action has shape {action.shape}; this environment takes "
                f"{self.action_space.shape} (users × slate_size · pages item indices)"
            )
        slots: dict[int, dict[int, int]] = {}  # per active row: item index -> its first slot
        for row in np.flatnonzero(self._active):
            slots[row] = {}
            for col, item in enumerate(action[row].tolist()):
                slots[row].setdefault(item, col)
        self._agent.slates = {
            self.user_ids[row]: [self.item_ids[i] for i in first] for row, first in slots.items()
        }
        world.step()
        rewards = np.zeros(len(self.user_ids))
        feedback = {
            "shown": np.zeros(action.shape, dtype=bool),
            "watched": np.zeros(action.shape, dtype=bool),
            "rated": np.zeros(action.shape, dtype=bool),
            "rating": np.zeros(action.shape, dtype=np.float32),
        }
        for row in world.last_interactions:
            at = self._user_index[row.user_id]
            col = slots[at][self._item_index[row.item_id]]
            feedback["shown"][at, col] = True
            if row.action is not Reaction.WATCH:
                continue
            feedback["watched"][at, col] = True
            if row.rating is not None and np.isfinite(row.rating):
                feedback["rated"][at, col] = True
                feedback["rating"][at, col] = row.rating
            rewards[at] += 1.0 + self.rating_weight * self._centred(row.rating)
            self._recent[at].append(self._item_index[row.item_id])
            self._history_length[at] += 1
        terminated = bool(world.terminated)
        truncated = bool(world.truncated) and not terminated
        self._set_active()
        info = self._info(rewards) | feedback
        return self._observe(), float(rewards.sum()), terminated, truncated, info

    def close(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    # -- the episode's world -----------------------------------------------------------

    def _open(self, seed: int) -> None:
        """Close the last episode's world and build the next one."""
        self.close()
        run_dir: Path | None = None
        if self.out is not None:
            run_dir = self.out / f"episode-{self.episode + 1:04d}"
        elif self.config.memory.backend == "chroma":
            self._temp = tempfile.mkdtemp(prefix="recworld-env-")
            run_dir = Path(self._temp) / "run"
        self._agent.slates = {}
        try:
            world = open_world(
                self.config,
                run_dir=run_dir,
                overwrite=True,
                seed=seed,
                llm=self.backend,
                arms={self._agent.name: self._agent},
            )
        except BaseException:
            self.close()  # the temporary folder too
            raise
        self.world = world
        self.user_ids = list(world.users.ids)
        """Rows of the observation and the action, in population order."""
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._recent = [deque(maxlen=self.history) for _ in self.user_ids]
        self._history_length = np.zeros(len(self.user_ids))
        log = world.dataset.interactions
        log = log[log["user_id"].isin(self._user_index)].sort_values("timestamp", kind="stable")
        index = {p.item_id: i for i, p in enumerate(world.items.search.items)}
        for user, items in log.groupby("user_id", sort=False)["item_id"]:
            at = self._user_index[user]
            self._recent[at].extend(index[i] for i in items if i in index)
            self._history_length[at] = len(items)
        self._longest = max(float(self._history_length.max(initial=0.0)), 1.0)
        """The longest history as the episode starts: the scale of the history feature."""
        scale = world.rating_scale
        self._scale = (scale.low, scale.high) if scale and scale.high > scale.low else None
        self._set_active()

    def _set_active(self) -> None:
        """Who visits in the world's next step: the rows the next action serves."""
        world = self.world
        assert world is not None
        self._active = np.zeros(len(self.user_ids), dtype=np.int8)
        if world.running:
            for user in world.visitors(world.steps + 1):
                self._active[self._user_index[user.user_id]] = 1

    def _centred(self, rating: float | None) -> float:
        if rating is None or self._scale is None or not np.isfinite(rating):
            return 0.0
        low, high = self._scale
        return float(np.clip((rating - (low + high) / 2) / ((high - low) / 2), -1.0, 1.0))

    # -- what the agent sees -------------------------------------------------------------

    def _observe(self) -> dict[str, np.ndarray]:
        world = self.world
        assert world is not None
        n, width = len(self.user_ids), self.history
        recent = np.full((n, width), -1, dtype=np.int64)
        history = np.zeros((n, self.item_features.shape[1]), dtype=np.float32)
        for at, items in enumerate(self._recent):
            if items:
                recent[at, width - len(items) :] = list(items)
                history[at] = self.item_features[list(items)].mean(axis=0)
        lengths = self._history_length
        user = np.zeros((n, len(USER_FEATURES)), dtype=np.float32)
        for at, agent in enumerate(world.users):
            traits = agent.profile.traits
            user[at] = (
                min(max(float(agent.activity), 0.0), 1.0),
                _LEVEL[str(traits.activity)],
                _LEVEL[str(traits.conformity)],
                _LEVEL[str(traits.diversity)],
                min(np.log1p(lengths[at]) / np.log1p(self._longest), 1.0),
                float(agent.left),
            )
        return {
            "active": self._active.copy(),
            "user": user,
            "history": np.clip(history, -1.0, 1.0),
            "recent": recent,
        }

    def _info(self, rewards: np.ndarray) -> dict[str, Any]:
        world = self.world
        assert world is not None
        stats = world.last
        return {
            "step": int(world.steps),
            "exposures": int(stats.exposures),
            "watches": int(stats.watches),
            "ratings": int(stats.ratings),
            "user_rewards": rewards,
        }


class _Lent:
    """A backend lent to each episode's world: a world closes its backend when it closes,
    and this one must serve the next episode too, so closing it here does nothing."""

    def __init__(self, backend: LLM) -> None:
        self._backend = backend
        self.name = backend.name
        self.model = backend.model

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        return self._backend.generate(requests)

    def health(self) -> str | None:
        health = getattr(self._backend, "health", None)
        return health() if health is not None else None

    def close(self) -> None:
        """Nothing: whoever made the backend closes it."""


def scenario_config(scenario: str | Path | RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """A scenario by name, file or ``RunConfig``, with ``overrides`` validated as a
    scenario file's fields are."""
    if isinstance(scenario, RunConfig):
        if not overrides:
            return scenario
        return RunConfig.model_validate({**scenario.model_dump(by_alias=True), **overrides})
    return load_scenario(scenario, **overrides)
