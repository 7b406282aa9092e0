"""Several worlds stepped together, with one LLM batch per phase for all of them.

Gymnasium's ``SyncVectorEnv`` steps its sub-environments one after another, so each world
would send its own batch for each phase. Here every sub-environment's step (and reset)
runs in a thread of its own, and their worlds share one backend through a ``BatchGate``:
the page decisions of all worlds are one batch, their memory writes another, and so on.
The bookkeeping (batched spaces, next-step autoreset, infos) is ``SyncVectorEnv``'s own.
"""

from __future__ import annotations

from copy import deepcopy
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import concatenate, iterate

from simulator.compose import build_llm
from simulator.config import RunConfig
from simulator.gym.env import RecworldEnv, scenario_config
from simulator.gym.gate import BatchGate
from simulator.seeding import RunSeeds
from simulator.types import LLM


class RecworldVectorEnv(SyncVectorEnv):
    """``num_envs`` copies of ``RecworldEnv`` over one shared LLM backend.

    Args:
        num_envs: How many worlds.
        scenario: As for ``RecworldEnv``.
        backend: The shared LLM backend; by default the scenario's, built once.
        rating_weight, history: As for ``RecworldEnv``.
        out: Each sub-environment logs its episodes under ``out/env-K``.
        overrides: Scenario fields to override.

    ``reset(seed=s)`` gives sub-environment ``k`` the seed ``s + k``, and ``reset()``
    without one the scenario's seed ``+ k`` (the worlds built here, not built again); later
    seedless episodes draw from each sub-environment's generator. Autoreset is Gymnasium's
    default (next step).
    """

    def __init__(
        self,
        num_envs: int,
        scenario: str | Path | RunConfig = "quickstart",
        *,
        backend: LLM | None = None,
        rating_weight: float = 0.5,
        history: int = 10,
        out: str | Path | None = None,
        **overrides: Any,
    ) -> None:
        config = scenario_config(scenario, overrides)
        self._backend_owned = backend is None
        if backend is None:
            backend = build_llm(config.llm, RunSeeds(config.seed).component)
        self.gate = BatchGate(backend)
        fns = [
            partial(
                RecworldEnv,
                config,
                backend=self.gate.member(k),
                rating_weight=rating_weight,
                history=history,
                out=Path(out) / f"env-{k}" if out is not None else None,
                seed=config.seed + k,
            )
            for k in range(num_envs)
        ]
        super().__init__(fns, autoreset_mode=AutoresetMode.NEXT_STEP)

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if options is not None and "reset_mask" in options:
            return super().reset(seed=seed, options=options)  # a partial reset: one by one
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + k for k in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        results = self.gate.run(
            [
                (k, partial(env.reset, seed=s, options=options))
                for k, (env, s) in enumerate(zip(self.envs, seeds, strict=True))
            ]
        )
        self._terminations = np.zeros((self.num_envs,), dtype=np.bool_)
        self._truncations = np.zeros((self.num_envs,), dtype=np.bool_)
        self._autoreset_envs = np.zeros((self.num_envs,), dtype=np.bool_)
        infos: dict[str, Any] = {}
        for k, (obs, info) in enumerate(results):
            self._env_obs[k] = obs
            infos = self._add_info(infos, info, k)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        return deepcopy(self._observations) if self.copy else self._observations, infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Every world steps (or, after its episode ended, resets) at once."""
        jobs = [
            (k, env.reset if self._autoreset_envs[k] else partial(env.step, action))
            for k, (env, action) in enumerate(
                zip(self.envs, iterate(self.action_space, actions), strict=True)
            )
        ]
        infos: dict[str, Any] = {}
        for k, result in enumerate(self.gate.run(jobs)):
            if self._autoreset_envs[k]:
                self._env_obs[k], info = result
                self._rewards[k], self._terminations[k], self._truncations[k] = 0.0, False, False
            else:
                (
                    self._env_obs[k],
                    self._rewards[k],
                    self._terminations[k],
                    self._truncations[k],
                    info,
                ) = result
            infos = self._add_info(infos, info, k)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        return (
            deepcopy(self._observations) if self.copy else self._observations,
            np.copy(self._rewards),
            np.copy(self._terminations),
            np.copy(self._truncations),
            infos,
        )

    def close_extras(self, **kwargs: Any) -> None:
        super().close_extras(**kwargs)
        close = getattr(self.gate.backend, "close", None)
        if self._backend_owned and close is not None:
            close()
