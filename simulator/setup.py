"""What a scenario hands the world: everything built, nothing yet running."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from agents.profile import ItemProfile, UserProfile
from agents.social import SocialGraph
from agents.utility import UtilityParams
from memory.store import MemoryStore
from memory.stream import StreamConfig
from simulator.dataset import Dataset
from simulator.recommenders.base import Recommender
from simulator.types import LLM


class WorldSettings(BaseModel):
    """The knobs of the world loop itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(10, ge=1)
    slate_size: int = Field(5, ge=1, le=50)
    pages: int = Field(3, ge=1, le=20)
    memory_k: int = Field(5, ge=0, le=50)
    refit_every: int = Field(0, ge=0, description="full refit every N steps; 0 = never")
    churn_after: int = Field(0, ge=0, description="leave after N idle visits; 0 = never")
    item_corrections: int = Field(50, ge=0, description="AgentCF corrections per step, at most")
    taste_summary: bool = Field(True, description="summarise each user's taste once, at start")
    interviews: bool = Field(True, description="ask every visitor to rate the recommender")
    search_rate: float = Field(0.15, ge=0, le=1, description="share of visitors who search")
    chat_rate: float = Field(0.15, ge=0, le=1, description="share of visitors who chat or post")


@dataclass
class Setup:
    """A built scenario.

    Attributes:
        dataset: The platform's log and catalogue; the recommender is fit on it.
        users: The simulated population's profiles.
        activity: Per-user visit probability, or ``None`` to use the activity trait.
        items: The catalogue as item agents will present it.
    """

    name: str
    dataset: Dataset
    users: list[UserProfile]
    items: list[ItemProfile]
    recommender: Recommender
    llm: LLM
    memory: MemoryStore
    settings: WorldSettings
    memory_config: StreamConfig = field(default_factory=StreamConfig)
    decisions: str = "json"
    social: SocialGraph | None = None
    policy: str = "llm"
    arms: dict[str, Recommender] | None = None
    switches: dict[int, Recommender] = field(default_factory=dict)
    arrivals: dict[int, pd.DataFrame] = field(default_factory=dict)
    """Items (dataset rows) that enter the catalogue at a step: the cold-start case."""
    utility: UtilityParams | None = None
    activity: list[float] | None = None
    config: dict[str, Any] = field(default_factory=dict)


class ScenarioLike(Protocol):
    """Anything that can build a ``Setup``; ``scenarios.Scenario`` is the shipped one."""

    seed: int

    def build(
        self, rng: np.random.Generator, *, seed: int, run_dir: Path | None = None
    ) -> Setup: ...
