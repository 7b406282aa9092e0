"""Who talks to whom: a weighted social graph for RecAgent-style chat and posts.

RecAgent ships its graph (``Dataset.social``); other datasets have none, so
:meth:`SocialGraph.generate` builds a seeded one in which people who like the same genres
are more often friends, as in real networks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

TOP_GENRES = 3
"""How many of a user's favourite genres count when looking for like-minded friends."""


class SocialGraph:
    """Weighted directed edges ``source -> target``; an undirected graph holds both.

    ``weight`` is closeness in [0, 1] (RecAgent's ``closeness``): it sets how often a
    friend is picked to chat with.
    """

    def __init__(self, *, directed: bool = True) -> None:
        self.directed = directed
        self._out: dict[str, dict[str, float]] = {}
        self._in: dict[str, list[str]] = {}
        self._relation: dict[tuple[str, str], str] = {}

    def add(self, source: str, target: str, weight: float = 1.0, relation: str = "friend") -> None:
        """Add (or strengthen) an edge; an undirected graph adds both directions."""
        pairs = [(source, target)] if self.directed else [(source, target), (target, source)]
        for a, b in pairs:
            if a == b:
                continue
            edges = self._out.setdefault(a, {})
            if b not in edges:
                self._in.setdefault(b, []).append(a)
                self._relation[a, b] = relation
            edges[b] = max(edges.get(b, 0.0), float(weight))

    @classmethod
    def from_edges(cls, frame: pd.DataFrame) -> SocialGraph:
        """The graph of ``Dataset.social`` (``source, target, relation, weight``).

        Edges stay directed, since RecAgent lists both directions with their own relation
        (a child's edge to a parent says "parent"); duplicate edges keep the closest weight.
        """
        graph = cls(directed=True)
        columns = (frame[c].tolist() for c in ("source", "target", "weight", "relation"))
        for source, target, weight, relation in zip(*columns, strict=True):
            graph.add(str(source), str(target), float(weight), str(relation))
        return graph

    @classmethod
    def generate(
        cls,
        user_ids: Sequence[str],
        rng: np.random.Generator,
        *,
        favourite_genres: Mapping[str, Sequence[str]] | None = None,
        mean_degree: float = 5.0,
        homophily: float = 0.7,
    ) -> SocialGraph:
        """A seeded undirected graph for datasets without one.

        Each edge starts at a random user; with probability ``homophily`` its other end is
        drawn among users who share one of the first user's top genres, else among all
        users. Closeness mixes shared taste (Jaccard of top genres) with chance.

        Args:
            user_ids: The population.
            rng: The world's generator for this component; the same state gives the same
                graph.
            favourite_genres: Per user, genres by preference (``UserProfile
                .favourite_genres``); without them the graph is uniformly random.
            mean_degree: Average number of friends per user.
            homophily: Share of edges drawn among like-minded users, 0 to 1.
        """
        if not 0.0 <= homophily <= 1.0:
            raise ValueError(f"homophily is a probability; got {homophily}")
        ids = list(dict.fromkeys(str(u) for u in user_ids))
        graph = cls(directed=False)
        n = len(ids)
        if n < 2:
            return graph
        genres = favourite_genres or {}
        tops = [frozenset(list(genres.get(u, ()))[:TOP_GENRES]) for u in ids]
        fans: dict[str, list[int]] = {}
        for i, top in enumerate(tops):
            for genre in sorted(top):
                fans.setdefault(genre, []).append(i)
        target = min(round(n * mean_degree / 2), n * (n - 1) // 2)
        made: set[tuple[int, int]] = set()
        attempts = 0
        while len(made) < target and attempts < 20 * target + 100:
            attempts += 1
            a = int(rng.integers(n))
            b = -1
            if tops[a] and rng.random() < homophily:
                genre = sorted(tops[a])[int(rng.integers(len(tops[a])))]
                pool = fans[genre]
                if len(pool) > 1:
                    b = pool[int(rng.integers(len(pool)))]
            if b < 0:
                b = int(rng.integers(n))
            edge = (min(a, b), max(a, b))
            if a == b or edge in made:
                continue
            made.add(edge)
            shared = len(tops[a] & tops[b]) / len(tops[a] | tops[b]) if tops[a] | tops[b] else 0
            weight = round(0.5 * shared + 0.5 * float(rng.random()), 4)
            graph.add(ids[a], ids[b], weight)
        return graph

    def friends(self, user_id: str) -> list[tuple[str, float]]:
        """``(friend_id, closeness)`` for every outgoing edge, in insertion order."""
        return list(self._out.get(user_id, {}).items())

    def followers(self, user_id: str) -> list[str]:
        """Users with an edge to ``user_id``: who sees their posts."""
        return list(self._in.get(user_id, []))

    def relation(self, source: str, target: str) -> str | None:
        """What ``target`` is to ``source`` ("friend", "colleague", ...), or ``None``."""
        return self._relation.get((source, target))

    def pick_partner(self, user_id: str, draw: float) -> str | None:
        """A friend drawn by closeness with one uniform ``draw``; ``None`` without friends.

        Inverse-CDF sampling, so the world's seeded draw fixes the choice. Zero weights
        everywhere fall back to a uniform pick.
        """
        edges = self.friends(user_id)
        if not edges:
            return None
        weights = np.array([w for _, w in edges], dtype=np.float64)
        weights = np.clip(weights, 0.0, None)
        total = weights.sum()
        cdf = np.cumsum(weights / total) if total > 0 else np.arange(1, len(edges) + 1) / len(edges)
        index = int(np.searchsorted(cdf, draw, side="right"))
        return edges[min(index, len(edges) - 1)][0]

    def edges(self) -> Iterator[tuple[str, str, str, float]]:
        """``(source, target, relation, weight)`` for every directed edge."""
        for source, targets in self._out.items():
            for target, weight in targets.items():
                yield source, target, self._relation[source, target], weight

    def to_frame(self) -> pd.DataFrame:
        """The edges in ``Dataset.social`` form, to save a generated graph with a run."""
        return pd.DataFrame(list(self.edges()), columns=["source", "target", "relation", "weight"])

    @property
    def users(self) -> list[str]:
        """Every user with at least one edge, either way."""
        return list(dict.fromkeys([*self._out, *self._in]))

    def __len__(self) -> int:
        """The number of directed edges."""
        return sum(len(t) for t in self._out.values())
