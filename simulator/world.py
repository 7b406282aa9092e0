"""The world: a Mesa model whose ``step`` runs the phases of docs/ARCHITECTURE.md, top to bottom.

The world runs parts it is given (``WorldParts``, built from a ``RunConfig`` by
``simulator.compose``); it never loads data or builds a backend itself.
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Protocol

import mesa
import numpy as np
import pandas as pd

from agents.actions import PageObservation, PageOutcome
from agents.actions.chat import ChatAction
from agents.actions.interview import InterviewAction, VisitSummary
from agents.actions.search import SearchAction
from agents.domain import domain_of
from agents.policy import CalibratesRatings, Policy
from agents.profile import ItemProfile, UserProfile, item_profiles
from agents.social import SocialGraph
from agents.taste import taste_request, with_taste
from agents.user import UserAgent
from memory.records import MemoryRecord, ScoredMemory
from memory.stream import MemoryStream, StepMemory
from simulator.catalogue import Catalogue
from simulator.config import WorldSettings
from simulator.dataset import Dataset, rating_scale
from simulator.engagement import click_through, mean_rating
from simulator.errors import RecworldError
from simulator.llm.registry import load_runtime
from simulator.llm.runtime import LLMRuntime
from simulator.population import Population
from simulator.progress import ProgressHook
from simulator.progress import phase as progress_phase
from simulator.ratings import FIVE_STARS
from simulator.recommenders.base import Recommender
from simulator.recommenders.llm_rerank import RecommenderContext
from simulator.runlog import RunLog
from simulator.sanitise import LIMITS, safe
from simulator.seeding import Purpose, RunSeeds
from simulator.stats import entropy_bits
from simulator.types import Event, ExitReason, Interaction, Reaction, StepStats

Slates = dict[str, list[list[str]]]
Outcomes = dict[str, list[PageOutcome]]

VISIT_PHASES = ("llm_error", "exit", "interview", "search", "chat")
"""The user side's events of a step, phase by phase, in the order a step logs them."""


@dataclass
class Visit:
    """What the user side did in one step: what the driver logs and counts.

    A sharded world gathers one per shard; shards own contiguous blocks of the population,
    so joining them shard by shard (each phase's events in turn) gives the rows in the
    order one process writes them.
    """

    interactions: list[Interaction] = field(default_factory=list)
    events: dict[str, list[Event]] = field(default_factory=lambda: {p: [] for p in VISIT_PHASES})
    pages: int = 0
    failed_pages: int = 0
    memory: StepMemory = field(default_factory=StepMemory)
    left: list[str] = field(default_factory=list)
    llm: dict[str, float] = field(default_factory=dict)
    """The shard's LLM counters for the step (its runtime's ``close_step`` row)."""
    rounds: list[str] = field(default_factory=list)
    """The tag of each LLM batch the shard sent in the step."""
    told: list[MemoryRecord] = field(default_factory=list)
    """Chat memories of listeners (any shard's), for the driver to hand to their owners."""
    heard: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """(listener, items mentioned to them) from chats, likewise."""

    @classmethod
    def joined(cls, visits: Sequence[Visit]) -> Visit:
        """The shards' visits as one, in shard order (``memory.forgotten`` summed too)."""
        out = cls()
        for visit in visits:
            out.interactions += visit.interactions
            for phase in VISIT_PHASES:
                out.events[phase] += visit.events[phase]
            out.pages += visit.pages
            out.failed_pages += visit.failed_pages
            for name in ("written", "promoted", "reflected", "forgotten"):
                setattr(out.memory, name, getattr(out.memory, name) + getattr(visit.memory, name))
            out.left += visit.left
            out.told += visit.told
            out.heard += visit.heard
        return out


@dataclass
class Forwarded:
    """What the driver hands a shard before its next visit: chat memories and mentions for
    listeners, then AgentCF corrections (the items' new profiles, the users' lessons). Each
    shard keeps what concerns its own users; one process applies the same in the step
    they happen, and nothing reads them before the next visit."""

    profiles: list[ItemProfile] = field(default_factory=list)
    records: list[MemoryRecord] = field(default_factory=list)
    heard: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


class Shards(Protocol):
    """The user side of a sharded world: shard ``k`` owns the ``k``-th contiguous block of
    the population (``blocks``) and runs its users' part of each step."""

    count: int

    def visit_all(
        self,
        step: int,
        active: Sequence[Sequence[str]],
        slates: Sequence[Slates],
        forwarded: Sequence[Forwarded],
    ) -> list[Visit]:
        """Every shard's visit for its active users, at once where it can; in shard order."""
        ...

    def close(self) -> None: ...


def blocks(n_users: int, count: int) -> list[range]:
    """The population's ``count`` contiguous blocks, as even as can be."""
    edges = [n_users * k // count for k in range(count + 1)]
    return [range(edges[k], edges[k + 1]) for k in range(count)]


@dataclass(frozen=True)
class ShardRole:
    """A world that runs one shard's users only: ``index`` of ``count``."""

    index: int
    count: int


@dataclass
class WorldParts:
    """Everything a world runs, built and seeded by ``simulator.compose``.

    The parts are the world's starting point: what changes during the run (the dataset as
    items arrive, the arms after a switch, users and items) is the world's own state from
    then on (``World.dataset``, ``World.arms``, ``World.users``, ``World.items``).

    Attributes:
        dataset: The platform's log and catalogue (held-back arrivals excluded); every
            recommender is fit on it.
        users: The simulated population's profiles, in population order.
        items: The catalogue as item agents will present it.
        arms: One recommender, or several A/B arms, by the name logs give them.
        arm_of: Each user's arm.
        llm: The batched LLM runtime every phase calls.
        policy: Decides pages (LLM, utility or hybrid).
        memory: The memory stream over the store.
        social: Who chats with whom.
        decisions: ``choice`` (scored choices) or ``json`` (one structured answer).
        uses_llm: False for the utility policy: every LLM phase is off.
        activity: Per-user visit probability, or ``None`` to use the activity trait.
        switches: A recommender that takes over at a step.
        arrivals: Items (dataset rows) that enter the catalogue at a step: cold start.
    """

    dataset: Dataset
    users: list[UserProfile]
    items: list[ItemProfile]
    arms: dict[str, Recommender]
    arm_of: dict[str, str]
    llm: LLMRuntime
    policy: Policy
    memory: MemoryStream
    social: SocialGraph
    decisions: str = "json"
    uses_llm: bool = True
    activity: list[float] | None = None
    switches: dict[int, Recommender] = field(default_factory=dict)
    arrivals: dict[int, pd.DataFrame] = field(default_factory=dict)

    def close(self) -> None:
        """Close what the parts opened (the memory store's writer, the LLM backend)."""
        try:
            self.memory.close()
        finally:
            self.llm.close()


class World(mesa.Model):
    """Users, items, recommenders, an LLM runtime and a memory stream, stepped in phases.

    Args:
        parts: What the world runs; ``simulator.compose.open_world`` builds them from a
            ``RunConfig``.
        settings: The world loop's knobs (steps, pages, rates).
        seed: The run's seed; the world draws activation and decision streams from it
            (``RunSeeds``), independent of the streams the parts were built with.
        log: Where each step's rows go; ``None`` keeps the run in memory.
        name: The run's name, for summaries.
        shards: The user side, run elsewhere (``simulator.compose.shards``): this world is
            then the driver, keeping the recommenders, the item agents and the logs.
        role: This world is one shard of a sharded run: it runs ``visit`` for the users of
            its block and fits no recommender.
        progress: Hears each slow phase of the start (indexing the catalogue, taste
            summaries, rating calibration, fitting each recommender); nothing without it.
    """

    def __init__(
        self,
        parts: WorldParts,
        settings: WorldSettings,
        *,
        seed: int,
        log: RunLog | None = None,
        name: str = "run",
        shards: Shards | None = None,
        role: ShardRole | None = None,
        progress: ProgressHook | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.seed = seed
        self.name = name
        self.parts = parts
        self.settings = settings
        self.log = log
        seeds = RunSeeds(seed)
        self._seeds = seeds
        self.llm = parts.llm
        self.policy = parts.policy
        self.uses_llm = parts.uses_llm
        self.memory = parts.memory
        self.dataset = parts.dataset
        self.rating_scale = rating_scale(self.dataset)
        """The dataset's rating scale, None without ratings; found once (arrivals add items,
        never ratings) for the log, taste summaries and the rating calibration."""
        self.log_scale = self.rating_scale or FIVE_STARS
        """The scale the log's ratings are on: the dataset's own (the policies put their
        answers on it), or whole stars for data without ratings."""
        self.arms = dict(parts.arms)
        self.arm_of = dict(parts.arm_of)
        self.social = parts.social
        self.users = Population(self, parts.users, parts.activity)
        self.shards = shards
        self.role = role
        self._owned: set[str] | None = None
        if role is not None:
            block = blocks(len(self.users), role.count)[role.index]
            self._owned = set(self.users.ids[block.start : block.stop])
        self._forward = [Forwarded() for _ in range(shards.count)] if shards else []
        self._shard_of: dict[str, int] = {}
        """Each user's shard, for a driver."""
        if shards is not None:
            ids = self.users.ids
            for k, block in enumerate(blocks(len(ids), shards.count)):
                self._shard_of.update(dict.fromkeys(ids[block.start : block.stop], k))
        with progress_phase(progress, f"indexing {len(parts.items):,} items for search"):
            self.items = Catalogue(self, parts.items, self.memory.store.embedder, self.log_scale)
        self.domain = domain_of(self.dataset.name, self.dataset.meta)
        self._searcher = SearchAction(self.items.search, domain=self.domain)
        self._events: list[Event] = []
        # A driver's users decide elsewhere: their shards summarise and calibrate.
        if self.settings.taste_summary and self.uses_llm and shards is None:
            with progress_phase(progress, f"summarising {len(self.users):,} users' tastes (LLM)"):
                self._summarise_tastes()
        if (
            self.settings.calibrate_ratings
            and isinstance(self.policy, CalibratesRatings)
            and shards is None
        ):
            with progress_phase(progress, "calibrating the LLM's ratings"):
                self._calibrate_ratings()
        if self.log is not None and role is None:
            self.log.write_profiles(self._profiles_frame())
        self._train = [self.dataset.interactions[list(_LOG_COLUMNS)]]
        stamps = self.dataset.interactions["timestamp"]
        self._clock = int(stamps.max()) if len(stamps) else 0
        for label, recommender in self.arms.items() if role is None else ():
            self._lend_context(recommender)
            with progress_phase(progress, f"fitting {label}"):
                recommender.fit(self.dataset)
        self.terminated = False
        self.truncated = False
        self.last = StepStats(step=0)
        self.last_interactions: list[Interaction] = []
        """The exposures of the latest step, in log order (what an environment rewards)."""
        self.last_mean_rating = float("nan")
        self.last_memory = StepMemory()
        self.overhead_s = 0.0
        self.users_side_s = 0.0
        """Seconds in the users' side of the steps (in place, or waiting for the shards):
        the rest of a step is the driver's own cost."""
        self.datacollector = mesa.DataCollector(model_reporters=_METRICS)
        # What starting cost (taste summaries, rating calibration) is step 0 of the LLM's
        # per-step costs, so step 1 counts its own calls alone, sharded or not.
        self.llm.stats.close_step(0)
        # The catalogue, profiles and fitted model live for the whole run; keeping them out
        # of the cyclic collector's scans makes each step's collections cheap.
        gc.collect()
        gc.freeze()

    def _summarise_tastes(self) -> None:
        """One batch: every user with a history gets a taste summary in their profile."""
        data = self.dataset
        titles = dict(zip(data.items["item_id"], data.items["title"], strict=True))
        inter = data.interactions[data.interactions["user_id"].isin(set(self.users.ids))]
        inter = inter.sort_values(["user_id", "timestamp"], kind="stable")
        ratings, scale = inter["rating"], self.rating_scale
        # On the data's own scale (4 and 2 of 1-5 stars); unrated interactions count as liked.
        liked_at, disliked_at = (scale.liked, scale.disliked) if scale else (np.inf, -np.inf)
        liked = inter[ratings.isna() | (ratings >= liked_at)].groupby("user_id")["item_id"]
        liked = liked.apply(list)
        disliked = inter[ratings <= disliked_at].groupby("user_id")["item_id"].apply(list)
        # A shard summarises everyone too: chat prompts show partners from any shard.
        users = [u for u in self.users if u.user_id in liked.index]
        requests = [
            taste_request(
                u.profile,
                [titles[i] for i in liked[u.user_id][-12:]],
                [titles[i] for i in disliked.get(u.user_id, [])[-6:]],
                domain=self.domain,
            )
            for u in users
        ]
        for user, answer in zip(users, self.llm.generate(requests), strict=True):
            user.profile = with_taste(user.profile, answer)

    def _calibrate_ratings(self) -> None:
        """One batch: the policy's rating question about a content-free item and about one
        rated history item of each of the first ``RATING_EXAMPLES`` users, so its ratings
        follow the data's share of each star, and its page question about a page of
        content-free items, so its picks lose the model's habit for some slots
        (``agents.debias``, ``agents.actions.pick``)."""
        data = self.dataset
        scale = self.rating_scale
        target = scale.star_shares(data.interactions["rating"]) if scale else None
        rated = data.interactions[data.interactions["rating"].notna()]
        rated = rated[rated["user_id"].isin(set(self.users.ids))]
        latest = rated.sort_values("timestamp", kind="stable").groupby("user_id").tail(1)
        item_of = dict(zip(latest["user_id"], latest["item_id"], strict=True))
        users = [u for u in self.users if item_of.get(u.user_id) in self.items]
        examples = [(u, self.items.profile(item_of[u.user_id])) for u in users[:RATING_EXAMPLES]]
        self.policy.calibrate_ratings(
            list(self.users)[:CONTENT_FREE_AGENTS], examples, target, self.settings.slate_size
        )

    def step(self) -> None:
        """One step: activate, recommend, recall, decide, act, items, feed back, record."""
        started, llm_before = time.perf_counter(), self.llm.stats.latency_s
        step = self.steps
        self._intervene(step)
        active = self._activate()
        slates = self._recommend(active)
        users_started = time.perf_counter()
        visit = (
            self._visit_here(step, active, slates)
            if self.shards is None
            else self._visit_shards(step, active, slates)
        )
        self.users_side_s += time.perf_counter() - users_started
        for phase in VISIT_PHASES:
            self._events += visit.events[phase]
        self._update_items(step, visit.interactions)
        self._feed_back(step, visit.interactions)
        self._record(step, active, visit)
        self.overhead_s += time.perf_counter() - started - (self.llm.stats.latency_s - llm_before)

    def _owns(self, user_id: str) -> bool:
        return self._owned is None or user_id in self._owned

    def visit(
        self, step: int, user_ids: Sequence[str], slates: Slates, forwarded: Forwarded
    ) -> Visit:
        """A shard's step for its active users (``user_ids``): first what the driver
        forwarded since the last visit (``_receive``), then the user side of ``step``,
        forgetting and a durable memory write, as the driver's step would end."""
        if self.role is None:
            raise RecworldError("visit runs the user side of one shard; this world is none")
        self._receive(forwarded)
        self.steps = step  # the driver's clock
        self._intervene(step)
        self._events = []  # the driver logs arrivals and switches
        visit = self._visit_here(step, [self.users[u] for u in user_ids], slates)
        visit.memory.forgotten = self.memory.forget(step)
        self.memory.sync()
        visit.rounds = list(self.llm.stats.rounds)
        visit.llm = self.llm.stats.close_step(step)
        return visit

    def _receive(self, forwarded: Forwarded) -> None:
        """A shard takes the driver's chat news and corrections before its next visit."""
        self.items.revise(forwarded.profiles)
        for listener, items in forwarded.heard:
            if self._owns(listener):
                self.users[listener].heard_of.update(items)
        records = [r for r in forwarded.records if self._owns(r.owner)]
        if records:
            self.memory.store.add(records)

    def _visit_here(self, step: int, active: Sequence[UserAgent], slates: Slates) -> Visit:
        """Recall, decide, act and remember, and what visitors do after: in this process."""
        memories = self._recall(step, active, slates)
        outcomes = self._decide(step, active, slates, memories)
        visit = Visit()
        visit.interactions = self._act_and_remember(step, active, outcomes, visit.events)
        self._after_visit(step, active, memories, visit)
        visit.pages = sum(len(v) for v in outcomes.values())
        visit.failed_pages = sum(o.failed for v in outcomes.values() for o in v)
        visit.memory = self.last_memory
        visit.left = [u.user_id for u in active if u.left]
        return visit

    def _visit_shards(self, step: int, active: Sequence[UserAgent], slates: Slates) -> Visit:
        """Each shard's active users and their slates, sent out; the visits, joined."""
        assert self.shards is not None
        per_shard: list[list[str]] = [[] for _ in range(self.shards.count)]
        for user in active:
            per_shard[self._shard_of[user.user_id]].append(user.user_id)
        visits = self.shards.visit_all(
            step,
            per_shard,
            [{u: slates[u] for u in users if u in slates} for users in per_shard],
            self._forward,
        )
        visit = Visit.joined(visits)
        self._forward = [
            Forwarded(records=list(visit.told), heard=list(visit.heard))
            for _ in range(self.shards.count)
        ]
        self.llm.stats.absorb([v.llm for v in visits], [v.rounds for v in visits])
        for user_id in visit.left:
            self.users[user_id].left = True
        self.last_memory = visit.memory
        return visit

    # -- phases ------------------------------------------------------------------------

    def _intervene(self, step: int) -> None:
        """Scheduled changes: new items arrive; a recommender switch takes over."""
        arriving = self.parts.arrivals.get(step)
        if arriving is not None:
            self._arrive(step, arriving)
        new = self.parts.switches.get(step)
        if new is None:
            return
        if self.role is None:
            self._lend_context(new)
            new.fit(replace(self.dataset, interactions=pd.concat(self._train)))
        label = getattr(new, "name", "switched")
        self.arms = {label: new}
        self.arm_of = dict.fromkeys(self.arm_of, label)
        self._events.append(Event(step, "switch", text=label))

    def _arrive(self, step: int, arriving: pd.DataFrame) -> None:
        """New items join the catalogue with text and no history; every arm refits on it."""
        dataset = replace(
            self.dataset, items=pd.concat([self.dataset.items, arriving], ignore_index=True)
        )
        self.dataset = dataset
        profiles = item_profiles(arriving)
        self.items.add(profiles)
        self._events += [Event(step, "arrival", item_id=p.item_id, text=p.title) for p in profiles]
        if self.role is not None:
            return  # a shard serves no recommender
        log = replace(dataset, interactions=pd.concat(self._train, ignore_index=True))
        for recommender in self.arms.values():
            recommender.fit(log)

    def _profiles_frame(self) -> pd.DataFrame:
        """Every simulated user as the run starts: profile, traits, activity and arm.

        Demographics and RecAgent persona fields are JSON objects (their keys vary by
        dataset); ``taste`` is the LLM's summary (empty without one, and in a sharded run,
        whose shards write theirs).
        """
        rows = []
        for user in self.users:
            p = user.profile
            rows.append(
                {
                    "user_id": p.user_id,
                    "name": p.name,
                    "arm": self.arm_of.get(p.user_id, ""),
                    "activity": float(user.activity),
                    "activity_level": str(p.traits.activity),
                    "conformity": str(p.traits.conformity),
                    "diversity": str(p.traits.diversity),
                    "traits_known": ",".join(p.traits.known()),
                    "favourite_genres": list(p.favourite_genres),
                    "demographics": json.dumps(p.demographics, sort_keys=True),
                    "persona": json.dumps(p.persona, sort_keys=True),
                    "taste": p.taste,
                }
            )
        return pd.DataFrame(rows)

    def _lend_context(self, recommender: object) -> None:
        """Recommenders that rank with the LLM (LLM re-ranker, AgentCF) get the runtime and
        text about users and items; the interaction log stays their only data."""
        attach = getattr(recommender, "attach", None)
        if attach is None:
            return
        attach(
            RecommenderContext(
                llm=self.llm,
                user_text=lambda u: (
                    self.users.profile(u).describe() if u in self.users else f"User {u}."
                ),
                item_text=lambda i: self.items.profile(i).describe(),
                user_memories=lambda u: [r.text for r in self.memory.store.records(u)[-5:]],
                load_llm=load_runtime,
            )
        )

    def _activate(self) -> list[UserAgent]:
        return self.visitors(self.steps)

    def visitors(self, step: int) -> list[UserAgent]:
        """Who visits in ``step``: each remaining user with their own activity probability.

        The draws are per user and step, so an environment can ask before the step which
        users its slates are for, and the step then activates the same users."""
        users = list(self.users)
        draws = self._seeds.draws(Purpose.ACTIVATION, self.users.indices(users), step)
        return [u for u, d in zip(users, draws[:, 0], strict=True) if not u.left and d < u.activity]

    def _recommend(self, active: Sequence[UserAgent]) -> Slates:
        """One call per recommender (arm) for its active users; each list is cut into pages."""
        size = self.settings.slate_size
        lists: dict[str, list[str]] = {}
        for name, recommender in self.arms.items():
            users = [u.user_id for u in active if self.arm_of[u.user_id] == name]
            if users:
                lists.update(recommender.recommend(users, size * self.settings.pages))
        return {
            u: [items[p : p + size] for p in range(0, len(items), size)]
            for u, items in lists.items()
        }

    def _recall(
        self, step: int, active: Sequence[UserAgent], slates: Slates
    ) -> dict[str, tuple[ScoredMemory, ...]]:
        """One batched memory search, with each user's first page as the query."""
        if not active or self.settings.memory_k == 0:
            return {}
        queries = [
            " ".join(self.items.profile(i).title for i in (slates[u.user_id] or [[]])[0])
            for u in active
        ]
        owners = [u.user_id for u in active]
        hits = self.memory.recall(owners, queries, self.settings.memory_k, step)
        return {owner: tuple(h) for owner, h in zip(owners, hits, strict=True)}

    def _decide(
        self,
        step: int,
        active: Sequence[UserAgent],
        slates: Slates,
        memories: dict[str, tuple[ScoredMemory, ...]],
    ) -> Outcomes:
        """Page by page: every agent still browsing joins one batch per round."""
        outcomes: Outcomes = {u.user_id: [] for u in active}
        browsing = [u for u in active if slates.get(u.user_id)]
        for page in range(1, self.settings.pages + 1):
            browsing = [u for u in browsing if len(slates[u.user_id]) >= page]
            if not browsing:
                break
            draws = self._seeds.draws(
                Purpose.PAGE, self.users.indices(browsing), step, page, k=3
            ).tolist()
            observations = [
                PageObservation(
                    step=step,
                    page=page,
                    items=tuple(self.items.profile(i) for i in slates[u.user_id][page - 1]),
                    recommender=self.arm_of[u.user_id],
                    memories=memories.get(u.user_id, ()),
                    draws=tuple(d),
                )
                for u, d in zip(browsing, draws, strict=True)
            ]
            results = self.policy.decide(browsing, observations)
            for user, result in zip(browsing, results, strict=True):
                outcomes[user.user_id].append(result)
            browsing = [u for u, r in zip(browsing, results, strict=True) if r.next_page]
        return outcomes

    def _act_and_remember(
        self,
        step: int,
        active: Sequence[UserAgent],
        outcomes: Outcomes,
        events: dict[str, list[Event]],
    ) -> list[Interaction]:
        """Collect exposures; remember in one pass, reflect in one batch; end the visits."""
        pages = [o for u in active for o in outcomes[u.user_id]]
        events["llm_error"] += [
            Event(step, "llm_error", user.user_id, text=safe(o.error, LIMITS["field"]))
            for user in active
            for o in outcomes[user.user_id]
            if o.failed
        ]
        self.last_memory = self.memory.perceive([m for o in pages for m in o.memories], step)
        self.last_memory.reflected = self.memory.reflect(step)
        for user in active:
            visit = outcomes[user.user_id]
            user.end_visit(sum(o.watched for o in visit), self.settings.churn_after)
            if visit:
                events["exit"].append(
                    Event(
                        step,
                        "exit",
                        user.user_id,
                        value=len(visit),
                        text=_exit_reason(visit, self.settings.pages),
                    )
                )
        return [row for o in pages for row in o.interactions]

    def _after_visit(
        self,
        step: int,
        active: Sequence[UserAgent],
        memories: dict[str, tuple[ScoredMemory, ...]],
        visit: Visit,
    ) -> None:
        """Interviews, searches and chats: each one batch across the agents who take it.

        A shard hands what chats tell other users (memories, mentions) to the driver in
        ``visit``; one process applies it here."""
        events = visit.events
        by_user: dict[str, list[Interaction]] = {}
        for row in visit.interactions:
            by_user.setdefault(row.user_id, []).append(row)
            if row.action is Reaction.WATCH:
                self.users[row.user_id].recent.append(self.items.profile(row.item_id))
        if not self.uses_llm:
            return
        if self.settings.interviews:
            events["interview"] += self._interview(
                [u for u in active if u.user_id in by_user], by_user
            )
        draws = self._seeds.draws(Purpose.AFTER_VISIT, self.users.indices(active), step, k=3)
        searchers = [
            u for u, d in zip(active, draws[:, 0], strict=True) if d < self.settings.search_rate
        ]
        records, events["search"] = self._search(step, searchers, memories)
        chatters = [
            (u, d)
            for u, d in zip(active, draws[:, 1:], strict=True)
            if d[0] < self.settings.chat_rate and u.recent
        ]
        told, events["chat"], heard = self._chat(step, chatters)
        if self.role is None:
            for listener, items in heard:
                self.users[listener].heard_of.update(items)
            records += told
        else:
            visit.told, visit.heard = told, heard
        self.memory.store.add(records)

    def _interview(
        self, visitors: Sequence[UserAgent], by_user: dict[str, list[Interaction]]
    ) -> list[Event]:
        action = InterviewAction(domain=self.domain)
        visits = [
            VisitSummary.from_interactions(
                by_user[u.user_id], self.items.descriptions, self.log_scale.high
            )
            for u in visitors
        ]
        choice = self.parts.decisions == "choice"
        requests = [
            action.request_choice(u, v) if choice else action.request(u, v)
            for u, v in zip(visitors, visits, strict=True)
        ]
        answers = self.llm.generate(requests)
        draws = self._seeds.draws(Purpose.INTERVIEW, self.users.indices(visitors), self.steps)
        events: list[Event] = []
        for user, visit, answer, draw in zip(visitors, visits, answers, draws[:, 0], strict=True):
            outcome = (
                action.apply_choice(user, visit, answer, float(draw))
                if choice
                else action.apply(user, visit, answer)
            )
            events += outcome.events()
        return events

    def _search(
        self,
        step: int,
        searchers: Sequence[UserAgent],
        memories: dict[str, tuple[ScoredMemory, ...]],
    ) -> tuple[list[MemoryRecord], list[Event]]:
        requests = [self._searcher.request(u, memories.get(u.user_id, ())) for u in searchers]
        outcomes = self._searcher.apply_all(searchers, self.llm.generate(requests), step=step)
        records: list[MemoryRecord] = []
        events: list[Event] = []
        for user, outcome in zip(searchers, outcomes, strict=True):
            user.heard_of.update(outcome.item_ids)
            events += outcome.events(step)
            records += [outcome.memory] if outcome.memory else []
        return records, events

    def _chat(
        self, step: int, chatters: Sequence[tuple[UserAgent, np.ndarray]]
    ) -> tuple[list[MemoryRecord], list[Event], list[tuple[str, tuple[str, ...]]]]:
        """Chats and posts in one batch: the listeners' memories, the events, and (listener,
        items mentioned) for each listener."""
        action = ChatAction(domain=self.domain)
        partners = [self.social.pick_partner(u.user_id, float(d[1])) for u, d in chatters]
        requests = [
            action.request(
                u,
                self.users.profile(p) if p in self.users else None,
                list(u.recent),
                relation=(self.social.relation(u.user_id, p) or "friend") if p else "friend",
            )
            for (u, _), p in zip(chatters, partners, strict=True)
        ]
        records: list[MemoryRecord] = []
        events: list[Event] = []
        heard: list[tuple[str, tuple[str, ...]]] = []
        answers = self.llm.generate(requests)
        for (user, _), partner, answer in zip(chatters, partners, answers, strict=True):
            outcome = action.apply(
                user,
                partner,
                list(user.recent),
                answer,
                step=step,
                followers=self.social.followers(user.user_id),
            )
            heard += [
                (listener, tuple(outcome.mentioned_item_ids))
                for listener in outcome.listeners
                if listener in self.users
            ]
            events += outcome.events(step)
            records += [m for m in outcome.memories if m.owner in self.users]
        return records, events, heard

    def _update_items(self, step: int, interactions: Sequence[Interaction]) -> None:
        """Items remember who chose them; contradicted items and users are corrected in one
        batch (AgentCF's backward step); every new memory is one batched write."""
        records, clashes = [], []
        for row in interactions:
            if row.action is Reaction.FAILED:  # no decision was made: nothing to learn
                continue
            record, clash = self.items[row.item_id].observe(row, self.users.profile(row.user_id))
            records += [record] if record else []
            clashes += [clash] if clash else []
        clashes = clashes[: self.settings.item_corrections if self.uses_llm else 0]
        answers = self.llm.generate([self.items[c.item_id].correction_request(c) for c in clashes])
        for clash, answer in zip(clashes, answers, strict=True):
            # Named by its coordinates, not by the user's own memory counter, which lives
            # on the user's shard in a sharded world.
            lesson = f"{clash.user_id}:correction:{step}:{clash.item_id}"
            fixed = self.items.correct(clash, answer, lesson)
            if not fixed:
                continue
            self._events.append(
                Event(step, "correction", clash.user_id, clash.item_id, text=fixed[0].text)
            )
            if self.shards is None:
                records += fixed
                continue
            records += [r for r in fixed if r.owner.startswith("item:")]
            for forward in self._forward:
                forward.profiles.append(self.items.profile(clash.item_id))
                forward.records += [r for r in fixed if not r.owner.startswith("item:")]
        self._events += [
            Event(step, "item_memory", item_id=r.owner.removeprefix("item:"), text=r.text)
            for r in records
            if r.owner.startswith("item:") and r.kind == "observation"
        ]
        self.memory.store.add(records)

    def _feed_back(self, step: int, interactions: Sequence[Interaction]) -> None:
        """The recommender learns from watches only, as a real system's log would show."""
        # Simulated time continues the dataset's clock, one unit per step.
        when = self._clock + step
        rows = [
            (r.user_id, r.item_id, when, r.rating)
            for r in interactions
            if r.action is Reaction.WATCH
        ]
        watched = pd.DataFrame(rows, columns=list(_LOG_COLUMNS))
        self._train.append(watched)
        refit = self.settings.refit_every and step % self.settings.refit_every == 0
        log = replace(self.dataset, interactions=pd.concat(self._train)) if refit else None
        for recommender in self.arms.values():
            recommender.update(watched)
            if log is not None:
                recommender.fit(log)

    def _record(self, step: int, active: Sequence[UserAgent], visit: Visit) -> None:
        """Forget what faded, append this step's rows and metrics, decide whether to go on.

        The memory store is synced before the step's logs are written, so the logs never
        name memories the store lacks, and a failed write stops the run in this step."""
        interactions = visit.interactions
        self.last_interactions = list(interactions)
        self.last_memory.forgotten += self.memory.forget(step)
        self.memory.sync()
        watches = [r for r in interactions if r.action is Reaction.WATCH]
        ratings = [r.rating for r in watches if r.rating is not None]
        self.last_mean_rating = mean_rating(ratings)
        llm_step = self.llm.stats.close_step(step)
        self.last = StepStats(
            step=step,
            active=len(active),
            exposures=len(interactions),
            watches=len(watches),
            rating_sum=float(sum(ratings)),
            ratings=len(ratings),
            pages=visit.pages,
            llm_batches=int(llm_step["batches"]),
            extra={
                "llm": llm_step,
                "failed_pages": visit.failed_pages,
                "memory": self.last_memory,
            },
        )
        self.datacollector.collect(self)
        self.truncated = step >= self.settings.steps
        self.terminated = self.users.all_left
        self.running = not (self.truncated or self.terminated)
        users = self._user_measures(step, active, interactions)
        if self.log is not None:
            self.log.append_interactions(step, interactions, timestamp=self._clock + step)
            self.log.append_events(step, self._events)
            self.log.append_users(step, users)
            self.log.write_metrics(self.metrics())
            self.log.write_llm_stats({"backend": self.llm.label, **self.llm.stats.to_json()})
        self._events = []

    def _user_measures(
        self, step: int, active: Sequence[UserAgent], interactions: Sequence[Interaction]
    ) -> pd.DataFrame:
        """Per active user: genre entropy of this step's exposures and of all watches so far."""
        shown: dict[str, list[str]] = {u.user_id: [] for u in active}
        for row in interactions:
            genres = self.items.profile(row.item_id).genres
            shown[row.user_id] += genres
            if row.action is Reaction.WATCH:
                self.users[row.user_id].watched_genres.update(genres)
        return pd.DataFrame(
            {
                "step": [step] * len(active),
                "user_id": [u.user_id for u in active],
                "arm": [self.arm_of[u.user_id] for u in active],
                "exposure_entropy": [genre_entropy(shown[u.user_id]) for u in active],
                # NaN until a user has watched something: 0 would read as a narrow taste.
                "watched_entropy": [
                    genre_entropy(u.watched_genres) if u.watched_genres else np.nan for u in active
                ],
            }
        )

    # -- running -----------------------------------------------------------------------

    def run(self, steps: int | None = None) -> None:
        """Step until terminated or truncated, or for ``steps`` more steps."""
        for _ in range(steps if steps is not None else self.settings.steps):
            if not self.running:
                break
            self.step()

    def metrics(self) -> pd.DataFrame:
        """One row per step, as collected by Mesa's DataCollector."""
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    def restore_metrics(self, logged: pd.DataFrame) -> None:
        """Take the metrics of replayed steps from the log (a resumed run): a replay reads
        the model's answers from a cache, so its own call counts would differ."""
        if len(logged) != len(self.metrics()) or list(logged.columns) != list(_METRICS):
            raise RecworldError(
                f"the logged metrics hold {len(logged)} steps and columns "
                f"{list(logged.columns)}; the replay made {len(self.metrics())} steps"
            )
        for column in logged.columns:
            self.datacollector.model_vars[column] = logged[column].tolist()

    def close(self) -> None:
        """Close the memory store (waiting for its writes) and the LLM backend, then
        release the run folder."""
        try:
            try:
                if self.shards is not None:
                    self.shards.close()
            finally:
                self.parts.close()
        finally:
            if self.log is not None:
                self.log.close()

    def __enter__(self) -> World:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_LOG_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
CONTENT_FREE_AGENTS = 5
"""Agents asked the rating question about a content-free item at start; answers averaged."""
RATING_EXAMPLES = 32
"""Rated history items (one per user) the start-of-run rating map is fitted on."""


def genre_entropy(genres: Iterable[str] | Counter[str]) -> float:
    """Shannon entropy (bits) of a genre distribution; the filter-bubble measure."""
    counts = genres if isinstance(genres, Counter) else Counter(genres)
    return entropy_bits(np.fromiter(counts.values(), float, count=len(counts)))


def _exit_reason(visit: Sequence[PageOutcome], page_limit: int) -> str:
    last = visit[-1]
    if last.failed:
        return str(ExitReason.FAILED)
    if last.next_page:
        return str(ExitReason.PAGE_LIMIT if len(visit) >= page_limit else ExitReason.NO_MORE)
    return str(ExitReason.LEFT)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


_METRICS = {
    "step": lambda w: w.last.step,
    "active_users": lambda w: w.last.active,
    "exposures": lambda w: w.last.exposures,
    "watches": lambda w: w.last.watches,
    "ctr": lambda w: click_through(w.last.watches, w.last.exposures),
    "mean_rating": lambda w: w.last_mean_rating,
    "pages_per_visit": lambda w: _ratio(w.last.pages, w.last.active),
    "users_left": lambda w: w.users.left,
    "llm_calls": lambda w: w.last.extra["llm"]["calls"],
    "llm_batches": lambda w: w.last.llm_batches,
    "prompt_tokens": lambda w: w.last.extra["llm"]["prompt_tokens"],
    "completion_tokens": lambda w: w.last.extra["llm"]["completion_tokens"],
    "llm_failures": lambda w: w.last.extra["llm"]["failures"],
    "failed_pages": lambda w: w.last.extra["failed_pages"],
    "memories_written": lambda w: w.last.extra["memory"].written,
    "insights_promoted": lambda w: w.last.extra["memory"].promoted,
    "reflections": lambda w: w.last.extra["memory"].reflected,
    "memories_forgotten": lambda w: w.last.extra["memory"].forgotten,
    "routed_share": lambda w: getattr(w.policy, "routed_share", float("nan")),
}
