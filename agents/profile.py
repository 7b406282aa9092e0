"""Who an agent is: settings and identity, kept apart from the agent's changing state."""

from __future__ import annotations

from enum import StrEnum

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field


class Level(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Traits(BaseModel):
    """Agent4Rec's three behavioural traits, each at three levels."""

    model_config = ConfigDict(frozen=True)

    activity: Level = Level.MEDIUM
    conformity: Level = Level.MEDIUM
    diversity: Level = Level.MEDIUM


class UserProfile(BaseModel):
    """A user's identity as the prompts present it.

    Attributes:
        demographics: Whatever the dataset has (age, gender, occupation).
        persona: RecAgent's free-text fields (traits, status, interests) where present.
        taste: A one-paragraph summary of what the user likes.
        favourite_genres: Genres ordered by preference, for prompts and the utility model.
    """

    model_config = ConfigDict(frozen=True)

    user_id: str
    name: str = ""
    demographics: dict[str, str] = Field(default_factory=dict)
    persona: dict[str, str] = Field(default_factory=dict)
    taste: str = ""
    favourite_genres: tuple[str, ...] = ()
    traits: Traits = Field(default_factory=Traits)

    def describe(self, *, short: bool = False) -> str:
        """The persona block of a prompt; stable text, so prefix caching can reuse it.

        ``short`` keeps only who the user is and what they enjoy, for follow-up questions.
        """
        lines = [f"You are user {self.name or self.user_id}."]
        if short:
            if self.favourite_genres:
                lines.append("You most enjoy: " + ", ".join(self.favourite_genres[:3]) + ".")
            return " ".join(lines)
        if self.demographics:
            lines.append(
                "About you: " + ", ".join(f"{k} {v}" for k, v in self.demographics.items())
            )
        lines.extend(f"Your {k}: {v}" for k, v in self.persona.items())
        if self.favourite_genres:
            lines.append("You most enjoy: " + ", ".join(self.favourite_genres[:5]) + ".")
        if self.taste:
            lines.append(self.taste)
        t = self.traits
        lines.append(f"Activity {t.activity}, conformity {t.conformity}, diversity {t.diversity}.")
        return "\n".join(lines)


class ItemProfile(BaseModel):
    """An item's catalogue entry. Its text is data for prompts, never instructions."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    title: str
    genres: tuple[str, ...] = ()
    description: str = ""
    note: str = ""
    """The item agent's memory of who it suits (AgentCF); shown beside the metadata."""

    def describe(self) -> str:
        genres = ", ".join(self.genres) or "unknown genre"
        text = f'"{_quote(self.title)}" ({genres})'
        if self.description:
            text += f": {_quote(self.description)[:300]}"
        if self.note:
            text += f" [viewers say: {_quote(self.note)[:160]}]"
        return text


def item_profiles(items: pd.DataFrame) -> list[ItemProfile]:
    """Profiles for catalogue rows (``item_id``, ``title``, ``genres``, ``description``)."""
    return [
        ItemProfile(item_id=i, title=t, genres=tuple(g), description=d or "")
        for i, t, g, d in zip(
            items["item_id"], items["title"], items["genres"], items["description"], strict=True
        )
    ]


def _quote(text: str) -> str:
    """Strip characters that could close the delimiters that fence item text in prompts."""
    return text.replace('"', "'").replace("<", "(").replace(">", ")").replace("\n", " ")
