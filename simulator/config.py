"""The run configuration: one typed description of a run, from scenario file to run directory.

A scenario file validates into ``RunConfig``; a run directory's ``config.yaml`` is the
same model, serialised; report, export, compare and ``memory show`` read it back through
the model. Nothing here builds anything: ``simulator.compose`` turns a config into parts.

Names that registries own are checked by their owners: recommender names and LLM backends
here (their registries sit below this module), dataset kinds by ``scenarios.datasets``
when a scenario file loads, and again by the loader when the dataset is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memory.scoring import ScoringWeights
from memory.stream import StreamConfig
from simulator.errors import RecworldError
from simulator.llm.registry import BACKENDS, CHOICE_BACKENDS
from simulator.recommenders.registry import check_recommender_name, is_import_path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldSettings(_Strict):
    """The knobs of the world loop itself; ``RunConfig`` carries them at its top level."""

    steps: int = Field(10, ge=1)
    slate_size: int = Field(5, ge=1, le=50)
    pages: int = Field(3, ge=1, le=20)
    memory_k: int = Field(5, ge=0, le=50)
    refit_every: int = Field(0, ge=0, description="full refit every N steps; 0 = never")
    churn_after: int = Field(0, ge=0, description="leave after N idle visits; 0 = never")
    item_corrections: int = Field(50, ge=0, description="AgentCF corrections per step, at most")
    taste_summary: bool = Field(True, description="summarise each user's taste once, at start")
    calibrate_ratings: bool = Field(
        True,
        description="scored choices: divide the content-free answer out of ratings (mapped "
        "onto the data's star shares) and picks (then weighted by slot), fitted once at start",
    )
    interviews: bool = Field(True, description="ask every visitor to rate the recommender")
    search_rate: float = Field(0.15, ge=0, le=1, description="share of visitors who search")
    chat_rate: float = Field(0.15, ge=0, le=1, description="share of visitors who chat or post")


class DatasetSpec(_Strict):
    """Which dataset, where, and the loader's options; ``scenarios.datasets`` owns the kinds."""

    kind: str = "synthetic"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "synthetic":
            return "synthetic (seeded generator)"
        return f"{self.kind}: {self.path or '(default path)'}"


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
        return check_recommender_name(v)

    @property
    def display(self) -> str:
        """The arm's name in logs and reports: its label, else its name."""
        return self.label or self.name


class ArrivalSpec(_Strict):
    """Cold start: a share of the items enters the world at a step, with text, no history."""

    at_step: int = Field(ge=2)
    items: float = Field(0.1, gt=0, lt=1, description="share of the catalogue held back")


class SwitchSpec(_Strict):
    """Replace the recommender at a step (a deployment); it is fit on the log so far."""

    at_step: int = Field(ge=2)
    recommender: RecommenderSpec


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
    def decision_mode(self) -> Literal["json", "choice"]:
        if self.decisions != "auto":
            return self.decisions
        return "choice" if self.backend in CHOICE_BACKENDS else "json"

    @field_validator("backend")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in BACKENDS:
            raise ValueError(f"unknown LLM backend {v!r}; choose one of {', '.join(BACKENDS)}")
        return v


USER_READING_RECOMMENDERS = ("agentcf", "llm-rerank")
"""Recommenders that read users' memories and texts (``RecommenderContext``): they need
the users in the driver's process."""


class ExecutorSpec(_Strict):
    """Where the users' side of each step runs.

    ``local`` with one shard is one process. More shards split the population into
    contiguous blocks, each run by its own copy of the user side (``local``: in this
    process, for checking; ``ray``: one Ray actor per shard on the cluster at
    ``address``). The same seed gives the same logs for any number of shards.
    """

    kind: Literal["local", "ray"] = "local"
    shards: int = Field(1, ge=1, le=1024)
    address: str | None = Field(
        None, description="the Ray cluster (auto, HOST:PORT or ray://HOST:PORT); ray only"
    )
    gpus_per_shard: float | None = Field(
        None,
        ge=0,
        description="GPUs each Ray shard reserves; null = 1 with the vllm backend (an engine "
        "per shard), else 0",
    )

    def shard_gpus(self, backend: str) -> float:
        """GPUs one Ray shard reserves: Ray hides the GPUs from an actor that reserves
        none, so a shard that runs its own vLLM engine must ask for its GPU."""
        if self.gpus_per_shard is not None:
            return self.gpus_per_shard
        return 1.0 if backend == "vllm" else 0.0


class HybridSpec(_Strict):
    """How the ``hybrid`` policy shares pages between the taste core and the LLM."""

    band: float = Field(
        0.15, ge=0, le=0.5, description="pages with a click probability this near 0.5 go to the LLM"
    )
    llm_weight: float = Field(
        1.0, ge=0, description="exponent of the LLM's answer pooled with the taste core's prior"
    )


class MemorySpec(_Strict):
    """Where memories live and how they are embedded, scored and staged.

    ``chroma`` keeps the store under ``RUN/memory`` (embedded), or on a Chroma server
    when ``host`` is set; ``in-memory`` keeps nothing after the run.
    """

    backend: Literal["chroma", "in-memory"] = "chroma"
    embedder: Literal["minilm", "minilm-static", "hashing"] = "minilm"
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="MiniLM's arithmetic: bfloat16 is about 3x faster where the CPU has it "
        "natively (auto takes it there); float32 for vectors equal across machines",
    )
    host: str | None = None
    port: int = 8000
    collection: str | None = Field(
        None, description="Chroma collection; on a server it defaults to one per run directory"
    )
    background: bool = True
    weights: ScoringWeights = Field(default_factory=ScoringWeights)
    stream: StreamConfig = Field(default_factory=StreamConfig)


Policy = Literal["llm", "utility", "hybrid"]


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class _Identity(_Strict):
    name: str
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)

    @field_validator("name")
    @classmethod
    def _one_plain_folder_name(cls, value: str) -> str:
        # The name becomes part of the run folder's name: it may not leave the output folder.
        if not _SAFE_NAME.fullmatch(value) or ".." in value:
            raise ValueError(
                f"{value!r} is not a plain name; use letters, digits, '.', '_' and '-' "
                "(at most 100, no '..', not starting with '.' or '-')"
            )
        return value


class RunConfig(WorldSettings, _Identity):
    """One simulation, fully specified: what a scenario file says and ``config.yaml`` holds.

    The world loop's settings (``WorldSettings``) sit at the top level, after the name,
    description and seed; ``settings`` hands them to the world.
    """

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
    policy: Policy = "llm"
    hybrid: HybridSpec = Field(default_factory=HybridSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    utility: dict[str, Any] = Field(
        default_factory=dict,
        description="UtilityParams overrides, or {calibration: FILE} from `recworld calibrate`",
    )
    output: str | None = None
    data_dir: str | None = None

    @field_validator("output")
    @classmethod
    def _output_below_the_working_folder(cls, value: str | None) -> str | None:
        # A scenario file is data: it may name a folder under the working folder, never
        # one elsewhere on disk (the command line's --out may, the user typed it).
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError(
                f"{value!r} leaves the working folder; give a relative folder without '..' "
                "(or pass --out on the command line)"
            )
        return value

    @model_validator(mode="after")
    def _shards_can_split_the_users(self) -> RunConfig:
        if self.executor.kind == "local" and self.executor.shards == 1:
            return self
        if self.policy == "hybrid":
            raise ValueError(
                "executor: the hybrid policy calibrates the LLM's answers against the "
                "batch's, which a shard sees only part of; run it with one local shard"
            )
        specs = [self.recommender, *self.arms, *(s.recommender for s in self.switches)]
        reading = sorted({s.name for s in specs if s.name in USER_READING_RECOMMENDERS})
        if reading:
            raise ValueError(
                f"executor: {', '.join(reading)} read the users' memories, which shards "
                "keep; run it with one local shard"
            )
        return self

    @model_validator(mode="after")
    def _pages_fit_the_decisions(self) -> RunConfig:
        if self.uses_llm and self.llm.decision_mode == "choice" and self.slate_size > 9:
            raise ValueError(
                f"slate_size: choice decisions label items 1-9 (one token each), got "
                f"{self.slate_size}; use at most 9, or llm.decisions: json"
            )
        return self

    @property
    def settings(self) -> WorldSettings:
        return WorldSettings(**{k: getattr(self, k) for k in WorldSettings.model_fields})

    @property
    def uses_llm(self) -> bool:
        """The utility policy is the no-LLM baseline: every LLM phase is off with it."""
        return self.policy != "utility"

    @property
    def arm_names(self) -> list[str]:
        """The A/B arms' names in logs, in the scenario's order; empty for one recommender."""
        return [arm.display for arm in self.arms]

    def unreached(self) -> list[str]:
        """The scheduled events a run of ``steps`` steps never reaches (a switch or the
        arrivals at a later step, say after ``--steps`` shortened a scenario), one line each."""
        later = [(f"the switch to {s.recommender.display}", s.at_step) for s in self.switches]
        if self.arrivals is not None:
            later.append(("the arrivals", self.arrivals.at_step))
        return [
            f"{what} at step {step} never happens in a {self.steps}-step run"
            for what, step in later
            if step > self.steps
        ]

    def describe_recommenders(self) -> str:
        """The recommender line of a report: the arms or the recommender, then any switches."""
        if self.arms:
            text = "A/B arms: " + ", ".join(f"{a.display} ({a.name})" for a in self.arms)
        else:
            text = self.recommender.name
        if self.switches:
            text += "; then " + ", ".join(
                f"{s.recommender.display} from step {s.at_step}" for s in self.switches
            )
        return text

    def with_one_recommender(self, name: str, seed: int) -> RunConfig:
        """This run with one recommender (default parameters) for everyone, at ``seed``:
        a built-in's name, or your own class's import path.

        A/B ``arms`` and ``switches`` are cleared; everything else is kept.
        """
        spec = (
            RecommenderSpec(import_path=name, label=name)
            if is_import_path(name)
            else RecommenderSpec(name=name)
        )
        return self.model_copy(
            update={
                "recommender": spec,
                "arms": [],
                "switches": [],
                "seed": seed,
            }
        )

    @classmethod
    def read(cls, path: str | Path) -> RunConfig:
        """A run directory's ``config.yaml``, validated.

        Raises:
            RecworldError: The file is missing, not YAML, or not a run configuration.
        """
        path = Path(path)
        if not path.exists():
            raise RecworldError(f"{path}: not found; is {path.parent} a recworld run directory?")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise RecworldError(f"{path}: not valid YAML ({exc}); rerun the scenario") from None
        if not isinstance(data, dict):
            raise RecworldError(f"{path}: expected the resolved scenario, a mapping of fields")
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise RecworldError(
                f"{path}: not a run configuration of this recworld version ({exc}); "
                "rerun the scenario"
            ) from None
