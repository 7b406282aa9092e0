"""Search: the user types a query, and the catalogue answers every query of a step at once.

The LLM only writes the query; finding items is an embedding search, so a step's searches
cost one LLM batch and one matrix product, however many agents search.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from agents.domain import FILMS, Domain
from agents.profile import ItemProfile
from agents.prompts import PROMPTS, bullet_memories, clean, domain_words, render
from memory.embedders import Embedder
from memory.records import MemoryKind, MemoryRecord, ScoredMemory
from simulator.types import Event, LLMRequest, LLMResponse

if TYPE_CHECKING:
    from agents.user import UserAgent

_WORD = re.compile(r"\w+")

STOPWORDS = frozenset(
    """a an the and or but of in on at to for with from by about as into over after before
    is are was were be been am do does did have has had not no so than too very just some
    any can will would could should i me my we our you your it its this that these those
    something anything want like feel mood watch see tonight today now good nice please
    film films movie movies show shows""".split()
)
"""Words every query or catalogue text has. Hashed vectors weigh all words alike, so
without this, "I want a good comedy" would match on "a" and "good" as much as "comedy"."""


class SearchQuery(BaseModel):
    """What the user types into the search box."""

    query: str = Field(max_length=80)


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """One agent's search: the query, what it found, and the memory of it.

    ``item_ids`` are ranked best first; the world can show them as a page to browse.
    ``memory`` is ``None`` when the answer failed or the query was empty.
    """

    user_id: str
    query: str
    item_ids: tuple[str, ...]
    memory: MemoryRecord | None

    def events(self, step: int) -> list[Event]:
        """Rows for the event log: one per result (``value`` is its rank), or one if none."""
        if not self.item_ids:
            return [Event(step, "search", self.user_id, "", 0.0, self.query)]
        return [
            Event(step, "search", self.user_id, item, float(rank), self.query)
            for rank, item in enumerate(self.item_ids, 1)
        ]


class CatalogueSearch:
    """Cosine search over item texts, embedded once; queries are answered in batches.

    Args:
        items: The catalogue.
        embedder: Any ``Embedder``; ``HashingEmbedder`` needs no model.
        genre_weight: How many times genres are repeated in an item's text. Descriptions
            run to dozens of words, so without weight a query naming a genre would be
            drowned by description words.
        stopwords: Words dropped from queries and item texts; pass ``frozenset()`` for a
            sentence embedder that makes use of them.
        chunk: Queries per matrix product, bounding memory to ``chunk x len(items)``.
    """

    def __init__(
        self,
        items: Sequence[ItemProfile],
        embedder: Embedder,
        *,
        genre_weight: int = 2,
        stopwords: frozenset[str] = STOPWORDS,
        chunk: int = 1024,
    ) -> None:
        self.items = tuple(items)
        self.stopwords = stopwords
        self.embedder = embedder
        self.genre_weight = genre_weight
        self.chunk = chunk
        self._index = {item.item_id: i for i, item in enumerate(self.items)}
        self._matrix = self._embed(self.items)

    def item_text(self, item: ItemProfile) -> str:
        """Title, genres (repeated ``genre_weight`` times), description and, once the item
        agent has one, its note of who it suits, as plain words."""
        genres = " ".join(item.genres)
        parts = [item.title, *[genres] * self.genre_weight, item.description]
        text = " ".join([*parts, item.note] if item.note else parts)
        return normalise(text, self.stopwords)

    def title(self, item_id: str) -> str:
        return self.items[self._index[item_id]].title

    def update(self, items: Sequence[ItemProfile]) -> None:
        """Re-index items whose text changed and append new ones, in one embedding batch."""
        if not items:
            return
        vectors = self._embed(items)
        rows = list(self.items)
        matrix = [self._matrix]
        for item, vector in zip(items, vectors, strict=True):
            at = self._index.get(item.item_id)
            if at is None:
                self._index[item.item_id] = len(rows)
                rows.append(item)
                matrix.append(vector[None, :])
            else:
                rows[at] = item
                self._matrix[at] = vector
        self.items = tuple(rows)
        self._matrix = np.vstack(matrix) if len(matrix) > 1 else self._matrix

    def vectors(self) -> np.ndarray:
        """Each item's text vector, in catalogue order (``items``): item features for
        models outside the world, such as a Gymnasium agent's."""
        return self._matrix.copy()

    def _embed(self, items: Sequence[ItemProfile]) -> np.ndarray:
        return np.asarray(
            self.embedder.embed([self.item_text(item) for item in items]), dtype=np.float32
        )

    def search(
        self,
        queries: Sequence[str],
        *,
        k: int = 5,
        exclude: Sequence[Collection[str]] | None = None,
    ) -> list[tuple[str, ...]]:
        """The ``k`` best item ids per query, best first; ties go to catalogue order.

        Only items that match at all (cosine above 0) count, so a query of nothing but
        stopwords finds nothing rather than the head of the catalogue.

        Args:
            queries: One free-text query per agent.
            k: Results per query; fewer when the catalogue runs out.
            exclude: Per query, item ids never to return (the agent's ``seen``).
        """
        if exclude is not None and len(exclude) != len(queries):
            raise ValueError(f"got {len(exclude)} exclusion sets for {len(queries)} queries")
        n_items = len(self.items)
        if not queries:
            return []
        if n_items == 0 or k <= 0:
            return [() for _ in queries]
        out: list[tuple[str, ...]] = []
        for start in range(0, len(queries), self.chunk):
            part = [normalise(q, self.stopwords) for q in queries[start : start + self.chunk]]
            scores = np.asarray(self.embedder.embed(part), dtype=np.float32) @ self._matrix.T
            if exclude is not None:
                for row, seen in enumerate(exclude[start : start + self.chunk]):
                    cols = [self._index[i] for i in seen if i in self._index]
                    scores[row, cols] = -np.inf
            out.extend(self._top(scores, min(k, n_items)))
        return out

    def _top(self, scores: np.ndarray, k: int) -> list[tuple[str, ...]]:
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -values), axis=-1)  # by score, then catalogue position
        top = np.take_along_axis(top, order, axis=1)
        values = np.take_along_axis(values, order, axis=1)
        return [
            tuple(self.items[c].item_id for c, v in zip(cols, vals, strict=True) if v > 0)
            for cols, vals in zip(top, values, strict=True)
        ]


def normalise(text: str, stopwords: frozenset[str] = frozenset()) -> str:
    """Lower-case words only, so "Sci-Fi," in a catalogue matches "sci-fi" in a query."""
    return " ".join(w for w in _WORD.findall(text.lower()) if w not in stopwords)


class SearchAction:
    """The agent writes a query; ``apply_all`` answers a whole batch with one search.

    Args:
        catalogue: The search index over the items.
        k: Results per search.
        domain: The dataset's words ("films", "watch") for the prompt.
    """

    name = "search"

    def __init__(self, catalogue: CatalogueSearch, *, k: int = 5, domain: Domain = FILMS) -> None:
        self.catalogue = catalogue
        self.k = k
        self.domain = domain

    def request(self, agent: UserAgent, memories: Sequence[ScoredMemory] = ()) -> LLMRequest:
        """Ask for a query, with what the agent recalls (as the browse prompt shows it)."""
        messages = render(
            PROMPTS["search"],
            persona=agent.profile.describe(),
            memories=bullet_memories([m.record.text for m in memories]),
            **domain_words(self.domain),
        )
        return LLMRequest(messages=messages, schema=SearchQuery, max_tokens=48, tag=self.name)

    def apply_all(
        self, agents: Sequence[UserAgent], responses: Sequence[LLMResponse], *, step: int
    ) -> list[SearchOutcome]:
        """Answer every agent's query in one batched search, excluding what each has seen."""
        if len(agents) != len(responses):
            raise ValueError(f"got {len(responses)} responses for {len(agents)} agents")
        queries = [_query(r) for r in responses]
        asking = [i for i, q in enumerate(queries) if q]
        found = self.catalogue.search(
            [queries[i] for i in asking],
            k=self.k,
            exclude=[agents[i].seen for i in asking],
        )
        results: dict[int, tuple[str, ...]] = dict(zip(asking, found, strict=True))
        outcomes = []
        for i, (agent, query) in enumerate(zip(agents, queries, strict=True)):
            if i not in results:
                outcomes.append(SearchOutcome(agent.user_id, query, (), None))
                continue
            item_ids = results[i]
            outcomes.append(
                SearchOutcome(
                    agent.user_id, query, item_ids, self._memory(agent, query, item_ids, step)
                )
            )
        return outcomes

    def apply(self, agent: UserAgent, response: LLMResponse, *, step: int) -> SearchOutcome:
        """One agent's search; prefer ``apply_all``, which searches for a batch at once."""
        return self.apply_all([agent], [response], step=step)[0]

    def _memory(
        self, agent: UserAgent, query: str, item_ids: tuple[str, ...], step: int
    ) -> MemoryRecord:
        titles = ", ".join(f'"{clean(self.catalogue.title(i), 80)}"' for i in item_ids)
        return MemoryRecord(
            id=agent.next_memory_id(),
            owner=agent.user_id,
            text=f'I searched for "{query}" and found {titles or "nothing new"}.',
            kind=MemoryKind.OBSERVATION,
            created=step,
            last_access=step,
            importance=0.3,
        )


def _query(response: LLMResponse) -> str:
    """The cleaned query, or "" when the answer failed."""
    parsed = response.parsed
    if not isinstance(parsed, SearchQuery):
        return ""
    return clean(parsed.query, 80)
