"""The world: a Mesa model whose ``step`` runs the phases of DESIGN.md, top to bottom."""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import mesa
import numpy as np
import pandas as pd

from agents.actions import BrowseAction, PageObservation, PageOutcome, PickAction
from agents.actions.chat import ChatAction
from agents.actions.interview import InterviewAction, VisitSummary
from agents.actions.search import CatalogueSearch, SearchAction
from agents.hybrid import HybridPolicy
from agents.item import ItemAgent
from agents.policy import LLMPolicy, Policy
from agents.profile import item_profiles
from agents.social import SocialGraph
from agents.taste import taste_request, with_taste
from agents.user import UserAgent
from agents.utility import UtilityModel, UtilityPolicy
from memory.records import MemoryRecord, ScoredMemory
from memory.stream import MemoryStream, StepMemory
from simulator.evaluation.stats import entropy_bits
from simulator.llm.runtime import LLMRuntime
from simulator.recommenders.llm_rerank import RecommenderContext
from simulator.runlog import RunLog
from simulator.setup import ScenarioLike
from simulator.types import Event, Interaction, Reaction, StepStats

Slates = dict[str, list[list[str]]]
Outcomes = dict[str, list[PageOutcome]]


class World(mesa.Model):
    """Users, items, a recommender, an LLM runtime and a memory stream, stepped in phases.

    Args:
        scenario: Anything with ``build(rng, seed=..., run_dir=...)`` returning a ``Setup``.
        seed: Seeds everything; defaults to the scenario's seed. One ``SeedSequence``
            is split into independent streams per component, so adding draws in one
            component never shifts another's.
        run_dir: Where logs (and a Chroma memory store) go; ``None`` keeps the run in memory.
        overwrite: Replace logs already in ``run_dir``.
    """

    def __init__(
        self,
        scenario: ScenarioLike,
        *,
        seed: int | None = None,
        run_dir: str | Path | None = None,
        overwrite: bool = False,
    ) -> None:
        self.seed = scenario.seed if seed is None else seed
        super().__init__(seed=self.seed)
        seeds = np.random.SeedSequence(self.seed).spawn(4)
        build_seq, activation_seq, component_seq, decision_seq = seeds
        out = Path(run_dir) if run_dir is not None else None
        self.log = RunLog(out, overwrite=overwrite) if out is not None else None
        self.setup = scenario.build(
            np.random.default_rng(build_seq),
            seed=int(component_seq.generate_state(1)[0]),
            run_dir=out,
        )
        try:
            self._start(activation_seq, component_seq, decision_seq)
        except BaseException:
            _close_quietly(self.setup.memory, self.setup.llm)
            raise

    def _start(
        self,
        activation_seq: np.random.SeedSequence,
        component_seq: np.random.SeedSequence,
        decision_seq: np.random.SeedSequence,
    ) -> None:
        """Everything after the build; a failure here closes what the build opened."""
        if self.log is not None:
            self.log.write_config(self.setup.config)
        self.settings = self.setup.settings
        self._activation_rng = np.random.default_rng(activation_seq)
        self._decision_rng = np.random.default_rng(decision_seq)
        self.llm = LLMRuntime(self.setup.llm)
        self.policy = self._policy()
        # The utility policy is the no-LLM baseline: every LLM phase is off with it.
        self.uses_llm = self.setup.policy != "utility"
        stream_llm = self.llm if self.uses_llm else None
        self.memory = MemoryStream(self.setup.memory, stream_llm, self.setup.memory_config)
        # One recommender, or several A/B arms that each serve a seeded share of the users.
        self.arms = self.setup.arms or {self.setup.recommender.name: self.setup.recommender}
        actions = {"browse": PickAction() if self.setup.decisions == "choice" else BrowseAction()}
        activity = self.setup.activity or [None] * len(self.setup.users)
        self.users = [
            UserAgent(self, profile, actions, activity=a)
            for profile, a in zip(self.setup.users, activity, strict=True)
        ]
        self.items = {p.item_id: ItemAgent(self, p) for p in self.setup.items}
        self._profiles = {u.user_id: u.profile for u in self.users}
        self._users = {u.user_id: u for u in self.users}
        self._item_profiles = {i: item.profile for i, item in self.items.items()}
        self.social = self.setup.social or SocialGraph.generate(
            [u.user_id for u in self.users],
            np.random.default_rng(component_seq.spawn(1)[0]),
            favourite_genres={u.user_id: u.profile.favourite_genres for u in self.users},
        )
        self._searcher = SearchAction(CatalogueSearch(self.setup.items, self.memory.store.embedder))
        self._events: list[Event] = []
        if self.settings.taste_summary and self.uses_llm:
            self._summarise_tastes()
        self._train = [self.setup.dataset.interactions[list(_LOG_COLUMNS)]]
        stamps = self.setup.dataset.interactions["timestamp"]
        self._clock = int(stamps.max()) if len(stamps) else 0
        for recommender in self.arms.values():
            self._lend_context(recommender)
            recommender.fit(self.setup.dataset)
        order = np.random.default_rng(component_seq.spawn(2)[1]).permutation(len(self.users))
        names = list(self.arms)
        self.arm_of = {self.users[i].user_id: names[n % len(names)] for n, i in enumerate(order)}
        self.terminated = False
        self.truncated = False
        self.last = StepStats(step=0)
        self.last_memory = StepMemory()
        self.overhead_s = 0.0
        self.datacollector = mesa.DataCollector(model_reporters=_METRICS)
        # The catalogue, profiles and fitted model live for the whole run; keeping them out
        # of the cyclic collector's scans makes each step's collections cheap.
        gc.collect()
        gc.freeze()

    def _policy(self) -> Policy:
        """The scenario's policy: ``llm``, the no-LLM ``utility`` model, or ``hybrid``."""
        if self.setup.policy == "llm":
            return LLMPolicy(self.llm)
        model = UtilityModel.from_dataset(self.setup.dataset, self.setup.utility)
        utility = UtilityPolicy(model, seed=self.seed)
        if self.setup.policy == "utility":
            return utility
        return HybridPolicy(utility, LLMPolicy(self.llm))

    def _summarise_tastes(self) -> None:
        """One batch: every user with a history gets a taste summary in their profile."""
        data = self.setup.dataset
        titles = dict(zip(data.items["item_id"], data.items["title"], strict=True))
        inter = data.interactions[data.interactions["user_id"].isin(self._users)]
        inter = inter.sort_values(["user_id", "timestamp"], kind="stable")
        rated = inter["rating"].notna()
        liked = inter[~rated | (inter["rating"] >= 4)].groupby("user_id")["item_id"].apply(list)
        disliked = inter[rated & (inter["rating"] <= 2)].groupby("user_id")["item_id"].apply(list)
        users = [u for u in self.users if u.user_id in liked.index]
        requests = [
            taste_request(
                u.profile,
                [titles[i] for i in liked[u.user_id][-12:]],
                [titles[i] for i in disliked.get(u.user_id, [])[-6:]],
            )
            for u in users
        ]
        for user, answer in zip(users, self.llm.generate(requests), strict=True):
            user.profile = with_taste(user.profile, answer)
            self._profiles[user.user_id] = user.profile

    def step(self) -> None:
        """One step: activate, recommend, recall, decide, act, items, feed back, record."""
        started, llm_before = time.perf_counter(), self.llm.stats.latency_s
        step = self.steps
        self._intervene(step)
        active = self._activate()
        slates = self._recommend(active)
        memories = self._recall(step, active, slates)
        outcomes = self._decide(step, active, slates, memories)
        interactions = self._act_and_remember(step, active, outcomes)
        self._after_visit(step, active, interactions, memories)
        self._update_items(step, interactions)
        self._feed_back(step, interactions)
        self._record(step, active, interactions, outcomes)
        self.overhead_s += time.perf_counter() - started - (self.llm.stats.latency_s - llm_before)

    # -- phases ------------------------------------------------------------------------

    def _intervene(self, step: int) -> None:
        """Scheduled changes: new items arrive; a recommender switch takes over."""
        arriving = self.setup.arrivals.get(step)
        if arriving is not None:
            self._arrive(step, arriving)
        new = self.setup.switches.get(step)
        if new is None:
            return
        self._lend_context(new)
        new.fit(replace(self.setup.dataset, interactions=pd.concat(self._train)))
        label = getattr(new, "name", "switched")
        self.arms = {label: new}
        self.arm_of = dict.fromkeys(self.arm_of, label)
        self._events.append(Event(step, "switch", text=label))

    def _arrive(self, step: int, arriving: pd.DataFrame) -> None:
        """New items join the catalogue with text and no history; every arm refits on it."""
        dataset = replace(
            self.setup.dataset,
            items=pd.concat([self.setup.dataset.items, arriving], ignore_index=True),
        )
        self.setup.dataset = dataset
        for profile in item_profiles(arriving):
            self.items[profile.item_id] = ItemAgent(self, profile)
            self._item_profiles[profile.item_id] = profile
            self._events.append(Event(step, "arrival", item_id=profile.item_id, text=profile.title))
        self._searcher = SearchAction(
            CatalogueSearch([i.profile for i in self.items.values()], self.memory.store.embedder)
        )
        log = replace(dataset, interactions=pd.concat(self._train, ignore_index=True))
        for recommender in self.arms.values():
            recommender.fit(log)

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
                    self._profiles[u].describe() if u in self._profiles else f"User {u}."
                ),
                item_text=lambda i: self.items[i].profile.describe(),
                user_memories=lambda u: [r.text for r in self.memory.store.records(u)[-5:]],
            )
        )

    def _activate(self) -> list[UserAgent]:
        """Each remaining user visits with their own activity probability."""
        draws = self._activation_rng.random(len(self.users))
        return [u for u, d in zip(self.users, draws, strict=True) if not u.left and d < u.activity]

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
            " ".join(self.items[i].profile.title for i in (slates[u.user_id] or [[]])[0])
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
            observations = [
                PageObservation(
                    step=step,
                    page=page,
                    items=tuple(self.items[i].profile for i in slates[u.user_id][page - 1]),
                    recommender=self.arm_of[u.user_id],
                    memories=memories.get(u.user_id, ()),
                    draws=tuple(self._decision_rng.random(3)),
                )
                for u in browsing
            ]
            results = self.policy.decide(browsing, observations)
            for user, result in zip(browsing, results, strict=True):
                outcomes[user.user_id].append(result)
            browsing = [u for u, r in zip(browsing, results, strict=True) if r.next_page]
        return outcomes

    def _act_and_remember(
        self, step: int, active: Sequence[UserAgent], outcomes: Outcomes
    ) -> list[Interaction]:
        """Collect exposures; remember in one pass, reflect in one batch; end the visits."""
        pages = [o for u in active for o in outcomes[u.user_id]]
        self.last_memory = self.memory.perceive([m for o in pages for m in o.memories], step)
        self.last_memory.reflected = self.memory.reflect(step)
        for user in active:
            visit = outcomes[user.user_id]
            user.end_visit(sum(o.watched for o in visit), self.settings.churn_after)
            if visit:
                self._events.append(
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
        interactions: Sequence[Interaction],
        memories: dict[str, tuple[ScoredMemory, ...]],
    ) -> None:
        """Interviews, searches and chats: each one batch across the agents who take it."""
        by_user: dict[str, list[Interaction]] = {}
        for row in interactions:
            by_user.setdefault(row.user_id, []).append(row)
            if row.action is Reaction.WATCH:
                self._users[row.user_id].recent.append(self.items[row.item_id].profile)
        if not self.uses_llm:
            return
        if self.settings.interviews:
            self._interview([u for u in active if u.user_id in by_user], by_user)
        draws = self._decision_rng.random((len(active), 3))
        searchers = [
            u for u, d in zip(active, draws[:, 0], strict=True) if d < self.settings.search_rate
        ]
        records = self._search(step, searchers, memories)
        chatters = [
            (u, d)
            for u, d in zip(active, draws[:, 1:], strict=True)
            if d[0] < self.settings.chat_rate and u.recent
        ]
        records += self._chat(step, chatters)
        self.memory.store.add(records)

    def _interview(
        self, visitors: Sequence[UserAgent], by_user: dict[str, list[Interaction]]
    ) -> None:
        action = InterviewAction()
        visits = [
            VisitSummary.from_interactions(by_user[u.user_id], self._item_profiles)
            for u in visitors
        ]
        choice = self.setup.decisions == "choice"
        requests = [
            action.request_choice(u, v) if choice else action.request(u, v)
            for u, v in zip(visitors, visits, strict=True)
        ]
        answers = self.llm.generate(requests)
        for user, visit, answer in zip(visitors, visits, answers, strict=True):
            outcome = (
                action.apply_choice(user, visit, answer, float(self._decision_rng.random()))
                if choice
                else action.apply(user, visit, answer)
            )
            self._events += outcome.events()

    def _search(
        self,
        step: int,
        searchers: Sequence[UserAgent],
        memories: dict[str, tuple[ScoredMemory, ...]],
    ) -> list[MemoryRecord]:
        requests = [self._searcher.request(u, memories.get(u.user_id, ())) for u in searchers]
        outcomes = self._searcher.apply_all(searchers, self.llm.generate(requests), step=step)
        records = []
        for user, outcome in zip(searchers, outcomes, strict=True):
            user.heard_of.update(outcome.item_ids)
            self._events += outcome.events(step)
            records += [outcome.memory] if outcome.memory else []
        return records

    def _chat(
        self, step: int, chatters: Sequence[tuple[UserAgent, np.ndarray]]
    ) -> list[MemoryRecord]:
        action = ChatAction()
        partners = [self.social.pick_partner(u.user_id, float(d[1])) for u, d in chatters]
        requests = [
            action.request(
                u,
                self._profiles.get(p) if p else None,
                list(u.recent),
                relation=(self.social.relation(u.user_id, p) or "friend") if p else "friend",
            )
            for (u, _), p in zip(chatters, partners, strict=True)
        ]
        records = []
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
            for listener in outcome.listeners:
                if listener in self._users:
                    self._users[listener].heard_of.update(outcome.mentioned_item_ids)
            self._events += outcome.events(step)
            records += [m for m in outcome.memories if m.owner in self._users]
        return records

    def _update_items(self, step: int, interactions: Sequence[Interaction]) -> None:
        """Items remember who chose them; contradicted items and users are corrected in one
        batch (AgentCF's backward step); every new memory is one batched write."""
        records, clashes = [], []
        for row in interactions:
            record, clash = self.items[row.item_id].observe(row, self._profiles[row.user_id])
            records += [record] if record else []
            clashes += [clash] if clash else []
        clashes = clashes[: self.settings.item_corrections if self.uses_llm else 0]
        answers = self.llm.generate([self.items[c.item_id].correction_request(c) for c in clashes])
        for clash, answer in zip(clashes, answers, strict=True):
            user = self._users[clash.user_id]
            fixed = self.items[clash.item_id].apply_correction(clash, answer, user.next_memory_id())
            records += fixed
            if fixed:
                self._events.append(
                    Event(step, "correction", clash.user_id, clash.item_id, text=fixed[0].text)
                )
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
        log = replace(self.setup.dataset, interactions=pd.concat(self._train)) if refit else None
        for recommender in self.arms.values():
            recommender.update(watched)
            if log is not None:
                recommender.fit(log)

    def _record(
        self,
        step: int,
        active: Sequence[UserAgent],
        interactions: Sequence[Interaction],
        outcomes: Outcomes,
    ) -> None:
        """Forget what faded, append this step's rows and metrics, decide whether to go on."""
        self.last_memory.forgotten = self.memory.forget(step)
        self.memory.flush()
        watches = [r for r in interactions if r.action is Reaction.WATCH]
        ratings = [r.rating for r in watches if r.rating is not None]
        llm_step = self.llm.stats.close_step(step)
        self.last = StepStats(
            step=step,
            active=len(active),
            exposures=len(interactions),
            watches=len(watches),
            rating_sum=float(sum(ratings)),
            ratings=len(ratings),
            pages=sum(len(v) for v in outcomes.values()),
            llm_batches=int(llm_step["batches"]),
            extra={
                "llm": llm_step,
                "failed_pages": sum(o.failed for v in outcomes.values() for o in v),
                "memory": self.last_memory,
            },
        )
        self.datacollector.collect(self)
        self.truncated = step >= self.settings.steps
        self.terminated = all(u.left for u in self.users)
        self.running = not (self.truncated or self.terminated)
        users = self._user_measures(step, active, interactions)
        if self.log is not None:
            self.log.append_interactions(step, interactions)
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
            genres = self.items[row.item_id].profile.genres
            shown[row.user_id] += genres
            if row.action is Reaction.WATCH:
                self._users[row.user_id].watched_genres.update(genres)
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

    def close(self) -> None:
        """Close the memory store (waiting for its writes) and the LLM backend."""
        try:
            self.memory.close()
        finally:
            self.llm.close()

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


def genre_entropy(genres: Iterable[str] | Counter[str]) -> float:
    """Shannon entropy (bits) of a genre distribution; the filter-bubble measure."""
    counts = genres if isinstance(genres, Counter) else Counter(genres)
    return entropy_bits(np.fromiter(counts.values(), float, count=len(counts)))


def _exit_reason(visit: Sequence[PageOutcome], page_limit: int) -> str:
    last = visit[-1]
    if last.failed:
        return "answer failed"
    if last.next_page:
        return "page limit" if len(visit) >= page_limit else "no more recommendations"
    return "chose to leave"


def _close_quietly(*resources: object) -> None:
    for resource in resources:
        close = getattr(resource, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


_METRICS = {
    "step": lambda w: w.last.step,
    "active_users": lambda w: w.last.active,
    "exposures": lambda w: w.last.exposures,
    "watches": lambda w: w.last.watches,
    "ctr": lambda w: _ratio(w.last.watches, w.last.exposures),
    "mean_rating": lambda w: _ratio(w.last.rating_sum, w.last.ratings),
    "pages_per_visit": lambda w: _ratio(w.last.pages, w.last.active),
    "users_left": lambda w: sum(u.left for u in w.users),
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
