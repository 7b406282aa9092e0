"""The user agent: a profile and a little state (what it saw, watched, heard of).

Actions and policies act *on* agents; an agent holds no action modules, so the agent
module depends on nothing that depends on it.
"""

from __future__ import annotations

from collections import Counter, deque

import mesa

from agents.profile import ItemProfile, Level, UserProfile
from memory.records import MemoryKind, MemoryRecord

ACTIVITY_PROBABILITY = {Level.LOW: 0.15, Level.MEDIUM: 0.35, Level.HIGH: 0.7}


class UserAgent(mesa.Agent):
    """A simulated user. It never calls the LLM: its actions build requests for the world.

    Args:
        model: The Mesa model the agent lives in (the world).
        profile: Identity and traits.
        activity: Probability of visiting in a step; defaults from the activity trait.
    """

    def __init__(
        self,
        model: mesa.Model,
        profile: UserProfile,
        *,
        activity: float | None = None,
    ) -> None:
        super().__init__(model)
        self.profile = profile
        # The id never changes (a taste summary replaces the profile, not who it is);
        # a plain attribute, as the world reads it millions of times a run.
        self.user_id: str = profile.user_id
        self.activity = (
            ACTIVITY_PROBABILITY[profile.traits.activity] if activity is None else activity
        )
        self.seen: set[str] = set()
        self.watched_genres: Counter[str] = Counter()
        self.recent: deque[ItemProfile] = deque(maxlen=5)
        self.heard_of: set[str] = set()
        self.idle_visits = 0
        self.left = False
        self._memory_counter = 0

    def next_memory_id(self) -> str:
        self._memory_counter += 1
        return f"{self.user_id}:{self._memory_counter}"

    def remember(
        self, text: str, step: int, importance: float, kind: MemoryKind = MemoryKind.OBSERVATION
    ) -> MemoryRecord:
        """A new memory of this user, written at ``step``; the world stores it in a batch."""
        return MemoryRecord(
            id=self.next_memory_id(),
            owner=self.user_id,
            text=text,
            kind=kind,
            created=step,
            last_access=step,
            importance=importance,
        )

    def end_visit(self, watched: int, churn_after: int) -> None:
        """Leave the platform after ``churn_after`` visits in a row with nothing watched."""
        self.idle_visits = 0 if watched else self.idle_visits + 1
        if churn_after and self.idle_visits >= churn_after:
            self.left = True
