"""The catalogue: the item agents, their current descriptions and the search index over them.

An item's description changes when its agent takes an AgentCF correction; the catalogue is
the one place that happens, so page, interview and search prompts all read the corrected
text, and the search index is re-embedded for that item at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import mesa

from agents.actions.search import CatalogueSearch
from agents.item import Contradiction, ItemAgent
from agents.profile import ItemProfile
from memory.embedders import Embedder
from memory.records import MemoryRecord
from simulator.ratings import FIVE_STARS, RatingScale
from simulator.types import LLMResponse


class Catalogue(Mapping[str, ItemAgent]):
    """Item agents by id, in catalogue order (arrivals last).

    Args:
        model: The world the item agents live in.
        profiles: The catalogue's items as agents present them.
        embedder: Embeds item texts for the search index.
        scale: The scale the run logs ratings on, which items read choices on.
    """

    def __init__(
        self,
        model: mesa.Model,
        profiles: Sequence[ItemProfile],
        embedder: Embedder,
        scale: RatingScale = FIVE_STARS,
    ) -> None:
        self._model = model
        self._scale = scale
        self._agents = {p.item_id: ItemAgent(model, p, scale) for p in profiles}
        self.search = CatalogueSearch(profiles, embedder)
        self.descriptions: Mapping[str, ItemProfile] = _Descriptions(self._agents)
        """Each item's current profile, read live from its agent."""

    def __getitem__(self, item_id: str) -> ItemAgent:
        return self._agents[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def profile(self, item_id: str) -> ItemProfile:
        """The item as prompts show it now, corrections included."""
        return self._agents[item_id].profile

    def add(self, profiles: Sequence[ItemProfile]) -> None:
        """New items (a cold-start arrival) join the agents and the search index."""
        for profile in profiles:
            self._agents[profile.item_id] = ItemAgent(self._model, profile, self._scale)
        self.search.update(profiles)

    def correct(
        self, clash: Contradiction, answer: LLMResponse, user_memory_id: str
    ) -> list[MemoryRecord]:
        """Apply an AgentCF correction to the item; its new description is searched from now."""
        agent = self._agents[clash.item_id]
        records = agent.apply_correction(clash, answer, user_memory_id)
        if records:
            self.search.update([agent.profile])
        return records

    def revise(self, profiles: Sequence[ItemProfile]) -> None:
        """Take items' corrected profiles made elsewhere (a sharded world's driver)."""
        for profile in profiles:
            self._agents[profile.item_id].profile = profile
        if profiles:
            self.search.update(list(profiles))


class _Descriptions(Mapping[str, ItemProfile]):
    def __init__(self, agents: Mapping[str, ItemAgent]) -> None:
        self._agents = agents

    def __getitem__(self, item_id: str) -> ItemProfile:
        return self._agents[item_id].profile

    def __iter__(self) -> Iterator[str]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)
