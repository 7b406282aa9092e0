"""The item agent (AgentCF): a catalogue entry that remembers who chose it, and why."""

from __future__ import annotations

import mesa

from agents.profile import ItemProfile, UserProfile
from memory.records import MemoryKind, MemoryRecord
from simulator.types import Interaction, Reaction


class ItemAgent(mesa.Agent):
    """An item with exposure counters and a memory of the users it met."""

    def __init__(self, model: mesa.Model, profile: ItemProfile) -> None:
        super().__init__(model)
        self.profile = profile
        self.exposures = 0
        self.watches = 0
        self._memory_counter = 0

    @property
    def item_id(self) -> str:
        return self.profile.item_id

    def observe(self, interaction: Interaction, user: UserProfile) -> MemoryRecord | None:
        """Count the exposure; a watch becomes a memory of what kind of user chose it."""
        self.exposures += 1
        if interaction.action is not Reaction.WATCH:
            return None
        self.watches += 1
        self._memory_counter += 1
        liked = ", ".join(user.favourite_genres[:3]) or "varied genres"
        rated = "" if interaction.rating is None else f"; rated {interaction.rating:g}"
        text = f"Chosen by a user who likes {liked}{rated}. Why: {interaction.reason}"
        return MemoryRecord(
            id=f"item:{self.item_id}:{self._memory_counter}",
            owner=f"item:{self.item_id}",
            text=text,
            kind=MemoryKind.OBSERVATION,
            created=interaction.step,
            last_access=interaction.step,
            importance=0.5,
        )
