"""The population: the user agents of a world, in a fixed order, found by id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import mesa
import numpy as np

from agents.profile import UserProfile
from agents.user import UserAgent


class Population:
    """The simulated users. Iterating gives agents in population order (the order every
    seeded draw follows); indexing and ``in`` take a user id.

    Args:
        model: The world the agents live in.
        profiles: One per user.
        activity: Per-user visit probability, or ``None`` to use each activity trait.
    """

    def __init__(
        self,
        model: mesa.Model,
        profiles: Sequence[UserProfile],
        activity: Sequence[float] | None = None,
    ) -> None:
        visits = activity if activity is not None else [None] * len(profiles)
        self._agents = [
            UserAgent(model, profile, activity=a)
            for profile, a in zip(profiles, visits, strict=True)
        ]
        self._by_id = {agent.user_id: agent for agent in self._agents}
        self._index = {agent.user_id: i for i, agent in enumerate(self._agents)}

    def __iter__(self) -> Iterator[UserAgent]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._by_id

    def __getitem__(self, user_id: str) -> UserAgent:
        return self._by_id[user_id]

    def indices(self, agents: Sequence[UserAgent]) -> np.ndarray:
        """Each agent's fixed place in the population: the key of its own random draws."""
        return np.fromiter((self._index[a.user_id] for a in agents), np.int64, len(agents))

    @property
    def ids(self) -> list[str]:
        return [agent.user_id for agent in self._agents]

    def profile(self, user_id: str) -> UserProfile:
        """The user as prompts show them now (a taste summary included once written)."""
        return self._by_id[user_id].profile

    @property
    def all_left(self) -> bool:
        return all(agent.left for agent in self._agents)

    @property
    def left(self) -> int:
        return sum(agent.left for agent in self._agents)
