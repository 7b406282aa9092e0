"""Scenario files: YAML validated by pydantic, with errors that name the field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agents.social import SocialGraph
from agents.utility import UtilityParams
from memory.embedders import make_embedder
from memory.in_memory import InMemoryStore
from memory.scoring import ScoringWeights
from memory.store import MemoryStore
from memory.stream import StreamConfig
from scenarios.datasets import DATASET_KINDS, load_dataset
from scenarios.population import item_profiles, pareto_activity, user_profiles
from simulator.calibration import CalibrationResult
from simulator.dataset import Dataset
from simulator.errors import ScenarioError
from simulator.llm.cache import CachedLLM
from simulator.llm.registry import BACKENDS, CHOICE_BACKENDS, make_llm
from simulator.recommenders.base import Recommender
from simulator.recommenders.registry import RECOMMENDERS, import_recommender, make_recommender
from simulator.setup import Setup, WorldSettings
from simulator.types import LLM


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    kind: str = "synthetic"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in DATASET_KINDS:
            raise ValueError(
                f"unknown dataset kind {v!r}; choose one of {', '.join(DATASET_KINDS)}"
            )
        return v


class PopulationSpec(_Strict):
    size: int | None = Field(100, ge=1, description="users simulated; null = all")
    sampling: Literal["random", "first"] = "random"


class TraitSpec(_Strict):
    """Shares of low / medium / high, used where the data has no traits."""

    activity: tuple[float, float, float] = (0.3, 0.5, 0.2)
    conformity: tuple[float, float, float] = (0.3, 0.4, 0.3)
    diversity: tuple[float, float, float] = (0.3, 0.4, 0.3)


class ActivationSpec(_Strict):
    """Who visits in a step: by activity trait, or RecAgent's Pareto-distributed activity."""

    mode: Literal["trait", "pareto"] = "trait"
    alpha: float = Field(1.5, gt=0, description="Pareto shape; smaller = longer tail")
    mean: float = Field(0.3, gt=0, le=1, description="mean visit probability per step")


class RecommenderSpec(_Strict):
    """A built-in by ``name``, or your own class by import path (``class: pkg.mod.Class``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = "most-popular"
    import_path: str | None = Field(None, alias="class")
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, description="the arm's name in logs; defaults to name")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in RECOMMENDERS:
            raise ValueError(f"unknown recommender {v!r}; choose one of {', '.join(RECOMMENDERS)}")
        return v

    def build(self, seed: int) -> Recommender:
        if self.import_path:
            return import_recommender(self.import_path, self.params, seed=seed)
        return make_recommender(self.name, self.params, seed=seed)


class ArrivalSpec(_Strict):
    """Cold start: a share of the items enters the world at a step, with text, no history."""

    at_step: int = Field(ge=2)
    items: float = Field(0.1, gt=0, lt=1, description="share of the catalogue held back")


class SwitchSpec(_Strict):
    """Replace the recommender at a step (a deployment); it is fit on the log so far."""

    at_step: int = Field(ge=2)
    recommender: RecommenderSpec

    def build(self, seed: int) -> Recommender:
        rec = self.recommender.build(seed)
        if self.recommender.label:
            rec.name = self.recommender.label
        return rec


class LLMSpec(_Strict):
    """The model behind every agent decision.

    ``decisions: choice`` asks scored choices (which item, which rating) and samples them;
    ``json`` asks one structured answer per page with reasons and feelings. ``auto`` picks
    ``choice`` for backends that expose log-probabilities locally, ``json`` otherwise.
    ``cache`` is a SQLite file: a rerun replays its answers at zero cost.
    """

    backend: str = "scripted"
    model: str | None = None
    decisions: Literal["auto", "json", "choice"] = "auto"
    cache: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def decision_mode(self) -> str:
        if self.decisions != "auto":
            return self.decisions
        return "choice" if self.backend in CHOICE_BACKENDS else "json"

    def build(self, seed: int) -> LLM:
        llm = make_llm(self.backend, model=self.model, seed=seed, **self.options)
        return CachedLLM(llm, self.cache) if self.cache else llm

    @field_validator("backend")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in BACKENDS:
            raise ValueError(f"unknown LLM backend {v!r}; choose one of {', '.join(BACKENDS)}")
        return v


class MemorySpec(_Strict):
    """Where memories live and how they are embedded, scored and staged.

    ``chroma`` keeps the store under ``RUN/memory`` (embedded), or on a Chroma server
    when ``host`` is set; ``in-memory`` keeps nothing after the run.
    """

    backend: Literal["chroma", "in-memory"] = "chroma"
    embedder: Literal["minilm", "hashing"] = "minilm"
    host: str | None = None
    port: int = 8000
    collection: str | None = Field(
        None, description="Chroma collection; on a server it defaults to one per run directory"
    )
    background: bool = True
    weights: ScoringWeights = Field(default_factory=ScoringWeights)
    stream: StreamConfig = Field(default_factory=StreamConfig)

    def build(self, run_dir: Path | None) -> MemoryStore:
        embedder = make_embedder(self.embedder)
        if self.backend == "in-memory":
            return InMemoryStore(embedder, self.weights)
        if self.host is None and run_dir is None:
            raise ScenarioError(
                "memory.backend: chroma keeps its store in the run directory; give the run "
                "an output folder (--out), or set memory.backend: in-memory"
            )
        from memory.chroma_store import COLLECTION, ChromaStore

        name = self.collection or (
            f"recworld-{_collection_safe(run_dir.name)}" if self.host and run_dir else COLLECTION
        )
        return ChromaStore(
            None if self.host else run_dir / "memory",
            host=self.host,
            port=self.port,
            collection=name,
            embedder=embedder,
            weights=self.weights,
            background=self.background,
            fresh=True,  # every run starts its memories empty; nothing of another run leaks in
        )


class Scenario(_Strict):
    """One simulation, fully specified; ``build`` turns it into a ``Setup`` for the world."""

    name: str
    description: str = ""
    seed: int = 0
    steps: int = Field(10, ge=1)
    slate_size: int = Field(5, ge=1, le=50)
    pages: int = Field(3, ge=1, le=20)
    memory_k: int = Field(5, ge=0, le=50)
    refit_every: int = Field(0, ge=0)
    churn_after: int = Field(0, ge=0)
    item_corrections: int = Field(50, ge=0)
    taste_summary: bool = True
    interviews: bool = True
    search_rate: float = Field(0.15, ge=0, le=1)
    chat_rate: float = Field(0.15, ge=0, le=1)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    population: PopulationSpec = Field(default_factory=PopulationSpec)
    traits: TraitSpec = Field(default_factory=TraitSpec)
    activation: ActivationSpec = Field(default_factory=ActivationSpec)
    recommender: RecommenderSpec = Field(default_factory=RecommenderSpec)
    switches: list[SwitchSpec] = Field(
        default_factory=list, description="recommender switches at given steps"
    )
    arrivals: ArrivalSpec | None = None
    arms: list[RecommenderSpec] = Field(
        default_factory=list,
        description="A/B test: each arm serves a seeded, equal share of the users",
    )
    llm: LLMSpec = Field(default_factory=LLMSpec)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    policy: Literal["llm", "utility", "hybrid"] = "llm"
    utility: dict[str, Any] = Field(
        default_factory=dict,
        description="UtilityParams overrides, or {calibration: FILE} from `recworld calibrate`",
    )
    output: str | None = None
    data_dir: str | None = None

    def _arms(self, seed: int) -> dict[str, Recommender] | None:
        if not self.arms:
            return None
        built = {}
        for spec in self.arms:
            rec = spec.build(seed)
            name = spec.label or rec.name
            if name in built:
                raise ScenarioError(f"arms: two arms are called {name!r}; give one a label")
            if spec.label:
                rec.name = spec.label  # the arm's name in every log row
            built[name] = rec
        return built

    def _hold_back_new_items(
        self, dataset: Dataset, rng: np.random.Generator
    ) -> tuple[Dataset, pd.DataFrame | None]:
        """Cold start: a share of the catalogue is kept out, with its history, until it arrives."""
        if self.arrivals is None:
            return dataset, None
        n = max(1, round(self.arrivals.items * len(dataset.items)))
        new = rng.choice(len(dataset.items), size=n, replace=False)
        arriving = dataset.items.iloc[np.sort(new)].reset_index(drop=True)
        ids = set(arriving["item_id"])
        items = dataset.items[~dataset.items["item_id"].isin(ids)].reset_index(drop=True)
        inter = dataset.interactions[~dataset.interactions["item_id"].isin(ids)]
        return replace(dataset, items=items, interactions=inter.reset_index(drop=True)), arriving

    def utility_params(self) -> UtilityParams:
        """The utility policy's parameters: a calibration file, then any overrides."""
        overrides = dict(self.utility)
        path = overrides.pop("calibration", None)
        base = CalibrationResult.load(path).params if path else UtilityParams()
        try:
            return base.model_copy(update=overrides) if overrides else base
        except ValueError as exc:
            raise ScenarioError(f"utility: {exc}") from None

    @model_validator(mode="after")
    def _pages_fit_the_decisions(self) -> Scenario:
        if self.policy != "utility" and self.llm.decision_mode == "choice" and self.slate_size > 9:
            raise ValueError(
                f"slate_size: choice decisions label items 1-9 (one token each), got "
                f"{self.slate_size}; use at most 9, or llm.decisions: json"
            )
        return self

    @property
    def settings(self) -> WorldSettings:
        return WorldSettings(**{k: getattr(self, k) for k in WorldSettings.model_fields})

    def build(self, rng: np.random.Generator, *, seed: int, run_dir: Path | None = None) -> Setup:
        """Load the data, draw the population and create every component, seeded."""
        dataset = load_dataset(
            self.dataset.kind, self.dataset.path, data_dir=self.data_dir, **self.dataset.options
        )
        if self.population.sampling == "first" and self.population.size:
            users = dataset.users.head(self.population.size)
        else:
            users = dataset.sample_users(self.population.size, rng).users
        dataset, arriving = self._hold_back_new_items(dataset, rng)
        profiles = user_profiles(users, dataset, rng, self.traits.model_dump())
        activity = None
        if self.activation.mode == "pareto":
            activity = pareto_activity(
                profiles, rng, alpha=self.activation.alpha, mean=self.activation.mean
            )
        return Setup(
            name=self.name,
            dataset=dataset,
            users=profiles,
            activity=activity,
            items=item_profiles(dataset),
            arrivals={self.arrivals.at_step: arriving} if arriving is not None else {},
            recommender=self.recommender.build(seed),
            switches={s.at_step: s.build(seed) for s in self.switches},
            llm=self.llm.build(seed),
            decisions=self.llm.decision_mode,
            policy=self.policy,
            arms=self._arms(seed),
            utility=self.utility_params(),
            social=SocialGraph.from_edges(dataset.social) if dataset.social is not None else None,
            memory=self.memory.build(run_dir),
            memory_config=self.memory.stream,
            settings=self.settings,
            config=self.model_dump(mode="json"),
        )


def shipped_scenarios() -> dict[str, Path]:
    """The scenario files installed with the package, by name."""
    return {p.stem: p for p in sorted(Path(__file__).resolve().parent.glob("*.yaml"))}


def load_scenario(source: str | Path, **overrides: Any) -> Scenario:
    """Read a scenario by path or shipped name, apply overrides, validate.

    Raises:
        ScenarioError: One line naming the file, the field path and what is allowed.
    """
    path = Path(source)
    if not path.exists():
        shipped = shipped_scenarios()
        if str(source) not in shipped:
            raise ScenarioError(
                f"{source}: no such scenario file; shipped scenarios are "
                f"{', '.join(sorted(shipped))} (see `recworld scenarios`)"
            )
        path = shipped[str(source)]
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ScenarioError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of fields, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    if overrides.get("llm.backend"):
        # A backend named on the command line brings its own model and options.
        llm = data.get("llm") if isinstance(data.get("llm"), dict) else {}
        data["llm"] = {k: v for k, v in llm.items() if k not in ("model", "options")}
    for key, value in overrides.items():
        if value is None:
            continue
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            if not isinstance(target.get(parent), dict):
                target[parent] = {}
            target = target[parent]
        target[leaf] = value
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
        given = {k for k, v in overrides.items() if v is not None}
        # A value from the command line is the user's, not the file's: say so.
        where = (
            "command-line override"
            if any(loc == k or loc.startswith(f"{k}.") for k in given)
            else path
        )
        raise ScenarioError(f"{where}: {describe_error(exc)}") from None


def describe_error(exc: ValidationError) -> str:
    """The first error as ``field.path: message (got VALUE)``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field; check its spelling against the scenario reference in the README"
        return f"{loc}: {msg}"
    return f"{loc}: {msg} (got {err.get('input')!r})"


def _collection_safe(name: str) -> str:
    """Chroma collection names allow [a-zA-Z0-9._-], 3-512 characters."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("._-")
    return (safe or "run")[:480]
