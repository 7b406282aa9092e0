"""The words prompts use for a dataset's items: films are watched, CDs listened to.

Prompts that say "films" and "watch" about CDs mislead the model, so every prompt takes
its nouns and verbs from a ``Domain``. A loader may name them in ``Dataset.meta["domain"]``
(a mapping with the ``Domain`` fields); otherwise the dataset's kind and name decide, and
an unknown dataset gets neutral words ("items", "choose", "interacted with").

Agents may not import ``simulator``, so this reads a dataset's ``name`` and ``meta`` only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Domain:
    """A domain's words.

    Attributes:
        items: The plural noun ("films").
        consume: The verb for taking one ("watch"), as in "would you watch it?".
        consumed: Its past participle ("watched"), as in "you just watched it".
    """

    items: str = "items"
    consume: str = "choose"
    consumed: str = "interacted with"

    @property
    def heading(self) -> str:
        """The noun capitalised, to open a sentence."""
        return self.items[:1].upper() + self.items[1:]


NEUTRAL = Domain()
FILMS = Domain("films", "watch", "watched")
MUSIC = Domain("CDs", "listen to", "listened to")
BOOKS = Domain("books", "read", "read")

UNRATED = "interacted with"
"""How a history entry without a rating reads: implicit feedback records an interaction,
not that the user watched, listened to or read the item."""

_BY_KIND = {
    "movielens-100k": FILMS,
    "movielens-1m": FILMS,
    "movielens-latest": FILMS,
    "recagent": FILMS,
    "synthetic": FILMS,  # the generator's catalogue is film-like: film genres, "a story about"
}
_BY_NAME = (
    (("movie", "film"), FILMS),
    (("cd", "music", "vinyl"), MUSIC),
    (("book",), BOOKS),
)
"""Word prefixes in a dataset's name ("CDs-100-user-dense", "amazon_books")."""


def domain_of(name: str, meta: Mapping[str, Any] | None = None) -> Domain:
    """The words for a dataset, from ``meta["domain"]``, its kind, or words in its name."""
    meta = meta or {}
    given = meta.get("domain")
    if isinstance(given, Domain):
        return given
    if isinstance(given, Mapping):
        return Domain(**given)
    if meta.get("kind") in _BY_KIND:
        return _BY_KIND[meta["kind"]]
    words = re.split(r"[^a-z]+", name.lower())
    for prefixes, domain in _BY_NAME:
        if any(w.startswith(prefixes) for w in words if w):
            return domain
    return NEUTRAL
