"""Who an agent is: settings and identity, kept apart from the agent's changing state."""

from __future__ import annotations

from enum import StrEnum

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from simulator.sanitise import LIMITS, safe


class Level(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Traits(BaseModel):
    """Agent4Rec's three behavioural traits, each at three levels.

    A trait left unset is unknown: models that need a level read the default (medium),
    but prompts never present it as the user's, because a persona of defaults tells the
    model nothing true. ``known()`` names the traits that were given.
    """

    model_config = ConfigDict(frozen=True)

    activity: Level = Level.MEDIUM
    conformity: Level = Level.MEDIUM
    diversity: Level = Level.MEDIUM

    def known(self) -> dict[str, Level]:
        """The traits given explicitly (measured, drawn or read from the data)."""
        return {name: getattr(self, name) for name in TRAIT_ORDER if name in self.model_fields_set}

    def describe(self) -> str:
        """The known traits in words; empty when none is known."""
        known = self.known()
        return " ".join(_TRAIT_WORDS[name][level] for name, level in known.items())


TRAIT_ORDER = ("activity", "conformity", "diversity")
_TRAIT_WORDS = {
    "activity": {
        Level.LOW: "You use the platform rarely.",
        Level.MEDIUM: "You use the platform now and then.",
        Level.HIGH: "You use the platform a lot.",
    },
    "conformity": {
        Level.LOW: "Your ratings often differ from most people's.",
        Level.MEDIUM: "Your ratings sometimes differ from most people's.",
        Level.HIGH: "Your ratings usually agree with most people's.",
    },
    "diversity": {
        Level.LOW: "You stick to a few genres.",
        Level.MEDIUM: "You enjoy a fair range of genres.",
        Level.HIGH: "You range over many genres.",
    },
}


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
        field, genre = LIMITS["field"], LIMITS["genre"]
        lines = [f"You are user {safe(self.name or self.user_id, LIMITS['name'])}."]
        genres = [safe(g, genre) for g in self.favourite_genres[: 3 if short else 5]]
        if short:
            if genres:
                lines.append("You most enjoy: " + ", ".join(genres) + ".")
            return " ".join(lines)
        if self.demographics:
            lines.append(
                "About you: "
                + ", ".join(
                    f"{safe(k, genre)} {safe(v, genre)}" for k, v in self.demographics.items()
                )
            )
        lines.extend(f"Your {safe(k, genre)}: {safe(v, field)}" for k, v in self.persona.items())
        if genres:
            lines.append("You most enjoy: " + ", ".join(genres) + ".")
        if self.taste:
            lines.append(safe(self.taste, LIMITS["taste"]))
        if traits := self.traits.describe():
            lines.append(traits)
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
        """The item as prompts quote it, every field through the one sanitiser."""
        genres = ", ".join(safe(g, LIMITS["genre"]) for g in self.genres[:8]) or "unknown genre"
        text = f'"{safe(self.title, LIMITS["title"])}" ({genres})'
        if self.description:
            text += f": {safe(self.description, LIMITS['description'])}"
        if self.note:
            text += f" [viewers say: {safe(self.note, LIMITS['note'])}]"
        return text


def item_profiles(items: pd.DataFrame) -> list[ItemProfile]:
    """Profiles for catalogue rows (``item_id``, ``title``, ``genres``, ``description``)."""
    return [
        ItemProfile(item_id=i, title=t, genres=tuple(g), description=d or "")
        for i, t, g, d in zip(
            items["item_id"], items["title"], items["genres"], items["description"], strict=True
        )
    ]
