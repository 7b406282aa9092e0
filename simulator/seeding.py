"""A run's random streams: one ``SeedSequence`` split per component.

Each stream is derived from the seed alone, never from how much another component drew,
so adding draws in one component never shifts another's, and a builder and the world
that runs its parts can ask for their streams in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunSeeds:
    """The streams of one run, all from ``seed``.

    ``build`` draws the population (sampling, traits, held-back items, activity);
    ``activation`` who visits; ``decision`` the draws behind sampled choices; the
    component stream seeds recommenders and the LLM (``component``), and has children for
    the generated social graph (``social``) and the A/B split (``arms``).
    """

    seed: int

    def _child(self, index: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed).spawn(4)[index]

    def _component_child(self, index: int) -> np.random.SeedSequence:
        return self._child(2).spawn(index + 1)[index]

    def build(self) -> np.random.Generator:
        return np.random.default_rng(self._child(0))

    def activation(self) -> np.random.Generator:
        return np.random.default_rng(self._child(1))

    def decision(self) -> np.random.Generator:
        return np.random.default_rng(self._child(3))

    @property
    def component(self) -> int:
        """One integer for components that take an int seed (recommenders, LLM backends)."""
        return int(self._child(2).generate_state(1)[0])

    def social(self) -> np.random.Generator:
        return np.random.default_rng(self._component_child(0))

    def arms(self) -> np.random.Generator:
        return np.random.default_rng(self._component_child(2))
