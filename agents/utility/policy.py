"""The utility model as a ``Policy``: page observations in, ``PageOutcome``s out.

The world hands every policy the same observations and takes back interaction rows and
memories; this adapter gathers a round's pages into the model's matrices, decides them in
one call, and writes the rows and memories as ``PickAction`` does, so that logs from the
utility and the LLM policies read alike.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from agents.actions.base import PageObservation, PageOutcome
from agents.importance import NOTHING_APPEALED_IMPORTANCE, watch_importance
from agents.user import UserAgent
from agents.utility.choice import PageDecisions, UtilityModel
from simulator.ratings import RatingScale
from simulator.types import Interaction, Reaction


class UtilityPolicy:
    """The ``Policy`` protocol without an LLM: one vectorised choice model per page round.

    Args:
        model: The choice model with its item and user matrices.
        seed: Only used where an observation carries fewer than two draws; the numbers
            then come from a generator seeded by (seed, user, step, page), so results stay
            deterministic.
        scale: The dataset's rating scale, which logged ratings are put on (the model
            rates on its own ``rating_levels``: 1-5 until ``calibrate`` fits the data's);
            None logs the model's levels.

    Randomness comes from ``observation.draws``: ``draws[0]`` picks the option (inverse
    CDF over no click, item 1..k), ``draws[1]`` the rating, and ``draws[2]`` (or, when
    absent, where ``draws[0]`` fell within the picked option's interval, which is uniform
    and independent of the pick) whether the visit goes on.
    """

    name = "utility"

    def __init__(
        self, model: UtilityModel, *, seed: int = 0, scale: RatingScale | None = None
    ) -> None:
        self.model = model
        self.seed = seed
        self.scale = scale
        self._users: dict[str, tuple[int, float, float]] = {}
        self.last_options = np.zeros((0, 1))
        """The last call's n × (k + 1) option probabilities (no click first), per page."""

    def decide(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> list[PageOutcome]:
        """One decision per agent, in order; no LLM at all."""
        if len(agents) != len(observations):
            raise ValueError(
                f"decide got {len(agents)} agents but {len(observations)} observations; "
                "pass one observation per agent"
            )
        if not agents:
            return []
        users, conformity, diversity = self._user_arrays(agents)
        k = max(len(o.items) for o in observations)
        lengths = np.fromiter((len(o.items) for o in observations), np.int64, len(observations))
        flat = [item for o in observations for item in o.items]
        rows = self.model.item_rows(flat)
        valid = None
        if (lengths == k).all():
            items = rows.reshape(len(observations), k)
        else:
            valid = np.arange(k)[None, :] < lengths[:, None]
            items = np.zeros((len(observations), k), dtype=np.int64)
            items[valid] = rows
        pages = np.fromiter((o.page for o in observations), np.float64, len(observations))
        draws = self._draws(agents, observations)
        decisions = self._decide(users, items, pages, conformity, diversity, draws, valid)
        self.last_options = decisions.options  # for HybridPolicy's routing and pooling
        go_on = decisions.next_page & (lengths > 0)  # an empty page ends the visit
        params = self.model.params
        top = params.rating_levels[-1]
        stars = params.stars(decisions.rating).tolist()
        ratings = decisions.rating
        if self.scale is not None:
            low, high = params.rating_levels[0], top
            ratings = np.where(decisions.choice > 0, self.scale.placed(ratings, low, high), 0.0)
            top = self.scale.high
        return [
            _outcome(agent, obs, int(c), float(u), float(p), float(r), st, top, bool(g))
            for agent, obs, c, u, p, r, st, g in zip(
                agents,
                observations,
                # Python lists: iterating the arrays would box every element as a numpy scalar.
                decisions.choice.tolist(),
                decisions.utility.tolist(),
                decisions.probability.tolist(),
                ratings.tolist(),
                stars,
                go_on.tolist(),
                strict=True,
            )
        ]

    def _decide(self, users, items, pages, conformity, diversity, draws, valid) -> PageDecisions:
        if items.shape[1] == 0:  # every page empty: nothing to pick
            n = len(users)
            return PageDecisions(
                np.zeros(n, np.int64),
                np.full(n, np.nan),
                np.ones(n),
                np.zeros(n),
                np.zeros(n, bool),
                np.ones((n, 1)),
            )
        return self.model.decide_pages(users, items, pages, conformity, diversity, draws, valid)

    def _user_arrays(self, agents: Sequence[UserAgent]) -> tuple[np.ndarray, ...]:
        """User rows and trait multipliers, cached per user (profiles are frozen)."""
        cache = self._users
        missing = [a.profile for a in agents if a.user_id not in cache]
        if missing:
            unique = list({p.user_id: p for p in missing}.values())
            params = self.model.params
            for profile, row in zip(unique, self.model.user_rows(unique), strict=True):
                t = profile.traits
                cache[profile.user_id] = (
                    int(row),
                    params.multiplier(t.conformity),
                    params.multiplier(t.diversity),
                )
        values = np.array([cache[a.user_id] for a in agents], dtype=np.float64)
        return values[:, 0].astype(np.int64), values[:, 1], values[:, 2]

    def _draws(
        self, agents: Sequence[UserAgent], observations: Sequence[PageObservation]
    ) -> np.ndarray:
        """n × 3 uniforms: the world's draws, with missing ones derived deterministically."""
        out = np.full((len(observations), 3), np.nan)
        for i, (agent, obs) in enumerate(zip(agents, observations, strict=True)):
            d = obs.draws
            if len(d) >= 2:
                out[i, : min(len(d), 3)] = d[:3]
            else:
                key = f"{self.seed}:{agent.user_id}:{obs.step}:{obs.page}".encode()
                out[i] = np.random.default_rng(zlib.crc32(key)).random(3)
        return out


def _outcome(
    agent: UserAgent,
    obs: PageObservation,
    choice: int,
    utility: float,
    probability: float,
    rating: float,
    stars: float,
    top: float,
    next_page: bool,
) -> PageOutcome:
    """Interaction rows and a memory, as ``PickAction`` writes them; ``stars`` is the rating
    on the 1-5 scale the importance rule is written in, ``top`` the scale's highest level."""
    user_id = agent.user_id
    step, page, recommender = obs.step, obs.page, obs.recommender
    item_ids = [item.item_id for item in obs.items]
    # One skip row per slot; the picked slot's row is replaced by the watch below.
    skip = Reaction.SKIP
    rows = [
        Interaction(step, user_id, item_id, page, position, recommender, skip)
        for position, item_id in enumerate(item_ids, 1)
    ]
    agent.seen.update(item_ids)
    if choice == 0:
        memory = agent.remember(
            f"Nothing on page {page} appealed to me.", step, NOTHING_APPEALED_IMPORTANCE
        )
    else:
        item = obs.items[choice - 1]
        rows[choice - 1] = Interaction(
            step=step,
            user_id=user_id,
            item_id=item.item_id,
            page=page,
            position=choice,
            recommender=recommender,
            action=Reaction.WATCH,
            rating=rating,
            reason=f"utility {utility:.2f}, p={probability:.2f}",
        )
        memory = agent.remember(
            f'I watched "{item.title}", {rating:g}/{top:g}', step, watch_importance(stars)
        )
    return PageOutcome(interactions=rows, memories=[memory], next_page=next_page)
