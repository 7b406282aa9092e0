"""A run's random streams: one ``SeedSequence`` split per component, and per-user draws.

Each stream is derived from the seed alone, never from how much another component drew,
so adding draws in one component never shifts another's, and a builder and the world
that runs its parts can ask for their streams in any order.

The draws behind users' behaviour (who visits, the click, rating and go-on draws of each
page, who searches or chats) are not taken from a sequential stream at all: each is a
pure function of (seed, purpose, user, step, page, slot), ``user_uniforms``. A user's
draws are then the same whichever other users visit and however the population is split
into batches or shards, which is what makes a sharded run's log equal the one-process
run's. numpy's generators are sequential streams (a ``Philox`` per user and page would
cost microseconds each); this is a counter-based hash instead, the SplitMix64 finaliser
(Steele et al., 2014, as in Java's ``SplittableRandom``), vectorised over users.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    """What a per-user draw decides; each purpose is an independent family of draws."""

    ACTIVATION = 1
    PAGE = 2
    AFTER_VISIT = 3
    INTERVIEW = 4


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection of 64-bit words that scatters every bit."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def user_uniforms(
    seed: int, purpose: Purpose, users: np.ndarray, step: int, page: int = 0, k: int = 1
) -> np.ndarray:
    """``len(users)`` × ``k`` uniforms in [0, 1), each a function of its coordinates only.

    Args:
        seed: The run's seed.
        purpose: What the draws decide.
        users: Each user's fixed index in the population (not their place in a batch).
        step: The world's step.
        page: The page within the visit (0 where there is none).
        k: Draws per user.
    """
    with np.errstate(over="ignore"):
        h = _mix(np.full(len(users), np.uint64(seed % 2**64)) + _GAMMA * np.uint64(purpose))
        for coordinate in (np.asarray(users, dtype=np.uint64), step, page):
            h = _mix(h + _GAMMA * (np.uint64(1) + np.asarray(coordinate, dtype=np.uint64)))
        slots = np.arange(1, k + 1, dtype=np.uint64)
        words = _mix(h[:, None] + _GAMMA * slots[None, :])
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass(frozen=True)
class RunSeeds:
    """The streams of one run, all from ``seed``.

    ``build`` draws the population (sampling, traits, held-back items, activity); users'
    behaviour draws come from ``user_uniforms`` with ``seed`` (``draws``); the component
    stream seeds recommenders and the LLM (``component``), and has children for the
    generated social graph (``social``) and the A/B split (``arms``).
    """

    seed: int

    def _child(self, index: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed).spawn(4)[index]

    def _component_child(self, index: int) -> np.random.SeedSequence:
        return self._child(2).spawn(index + 1)[index]

    def build(self) -> np.random.Generator:
        return np.random.default_rng(self._child(0))

    def draws(
        self, purpose: Purpose, users: np.ndarray, step: int, page: int = 0, k: int = 1
    ) -> np.ndarray:
        """``user_uniforms`` under this run's seed."""
        return user_uniforms(self.seed, purpose, users, step, page, k)

    @property
    def component(self) -> int:
        """One integer for components that take an int seed (recommenders, LLM backends)."""
        return int(self._child(2).generate_state(1)[0])

    def social(self) -> np.random.Generator:
        return np.random.default_rng(self._component_child(0))

    def arms(self) -> np.random.Generator:
        return np.random.default_rng(self._component_child(2))
