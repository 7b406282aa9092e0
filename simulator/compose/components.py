"""One builder per part of a run configuration: dataset, LLM, memory store, recommenders,
utility parameters, and the agent the fidelity suite questions. The CLI, the Python API,
compare, fidelity and calibrate all build their parts here, so a part is made the same
way wherever it is used."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from agents.utility import UtilityParams
from memory.embedders import make_embedder
from memory.in_memory import InMemoryStore
from memory.store import MemoryStore
from scenarios.datasets import load_dataset
from scenarios.loader import describe_error
from simulator.calibration import CalibrationResult
from simulator.config import DatasetSpec, LLMSpec, MemorySpec, RecommenderSpec, RunConfig
from simulator.dataset import Dataset
from simulator.errors import RecworldError, ScenarioError, first_line
from simulator.fidelity.subjects import HybridSubject, LLMSubject, Subject, UtilitySubject
from simulator.llm.cache import CachedLLM
from simulator.llm.registry import make_llm
from simulator.llm.runtime import LLMRuntime
from simulator.progress import ProgressHook
from simulator.recommenders.base import Recommender
from simulator.recommenders.registry import import_recommender, make_recommender
from simulator.types import LLM


def load_config_dataset(spec: DatasetSpec, data_dir: str | Path | None = None) -> Dataset:
    """The dataset a configuration names, found through ``data_dir`` and ``RECWORLD_DATA``."""
    return load_dataset(spec.kind, spec.path, data_dir=data_dir, **spec.options)


def build_llm(spec: LLMSpec, seed: int, progress: ProgressHook | None = None) -> LLM:
    """The backend, behind the response cache when the spec names one; ``progress`` hears
    of slow one-off work (converting the embedded model the first time)."""
    llm = make_llm(spec.backend, model=spec.model, seed=seed, progress=progress, **spec.options)
    return CachedLLM(llm, spec.cache) if spec.cache else llm


def build_memory_store(spec: MemorySpec, run_dir: Path | None) -> MemoryStore:
    """In memory, embedded Chroma under ``RUN/memory``, or a collection on a Chroma server.

    Raises:
        ScenarioError: Embedded Chroma without a run directory to keep it in.
    """
    embedder = make_embedder(spec.embedder, spec.precision)
    if spec.backend == "in-memory":
        return InMemoryStore(embedder, spec.weights)
    if spec.host is None and run_dir is None:
        raise ScenarioError(
            "memory.backend: chroma keeps its store in the run directory; give the run "
            "an output folder (--out), or set memory.backend: in-memory"
        )
    from memory.chroma_store import COLLECTION, ChromaStore

    name = spec.collection or (
        f"recworld-{_collection_safe(run_dir.name)}" if spec.host and run_dir else COLLECTION
    )
    return ChromaStore(
        None if spec.host else run_dir / "memory",
        host=spec.host,
        port=spec.port,
        collection=name,
        embedder=embedder,
        weights=spec.weights,
        background=spec.background,
        fresh=True,  # every run starts its memories empty; nothing of another run leaks in
    )


def open_memory_store(spec: MemorySpec, run_dir: Path) -> MemoryStore:
    """A finished run's embedded store, read as it was written (no background writer)."""
    from memory.chroma_store import ChromaStore

    try:
        return ChromaStore(
            run_dir / "memory",
            embedder=make_embedder(spec.embedder, spec.precision),
            weights=spec.weights,
            background=False,
        )
    except Exception as exc:  # Chroma's errors have no common base; any means "unreadable"
        raise RecworldError(
            f"{run_dir / 'memory'}: the memory store cannot be read ({first_line(exc)}); "
            "it may be damaged or from another Chroma version"
        ) from None


def build_recommender(
    spec: RecommenderSpec, seed: int, *, progress: ProgressHook | None = None
) -> Recommender:
    """A built-in or your own class; a ``label`` becomes its name in every log row.

    A recommender with a ``progress`` attribute (the built-ins) reports its slow fits
    (SASRec's epochs) to ``progress``.
    """
    if spec.import_path:
        recommender = import_recommender(spec.import_path, spec.params, seed=seed)
    else:
        recommender = make_recommender(spec.name, spec.params, seed=seed)
    if spec.label:
        recommender.name = spec.label
    if progress is not None and hasattr(recommender, "progress"):
        recommender.progress = progress
    return recommender


def build_arms(
    config: RunConfig, seed: int, *, progress: ProgressHook | None = None
) -> dict[str, Recommender]:
    """The A/B arms by name, or the one recommender (``progress`` as ``build_recommender``).

    Raises:
        ScenarioError: Two arms with one name.
    """
    if not config.arms:
        recommender = build_recommender(config.recommender, seed, progress=progress)
        return {recommender.name: recommender}
    built: dict[str, Recommender] = {}
    for spec in config.arms:
        recommender = build_recommender(spec, seed, progress=progress)
        if recommender.name in built:
            raise ScenarioError(f"arms: two arms are called {recommender.name!r}; give one a label")
        built[recommender.name] = recommender
    return built


def utility_params(config: RunConfig) -> UtilityParams:
    """The utility policy's parameters: a calibration file, then any overrides.

    Raises:
        ScenarioError: An override ``UtilityParams`` rejects.
    """
    overrides = dict(config.utility)
    path = overrides.pop("calibration", None)
    base = CalibrationResult.load(path).params if path else UtilityParams()
    try:
        return UtilityParams.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise ScenarioError(f"utility.{describe_error(exc)}") from None


def build_fidelity_subject(
    policy: str,
    llm: LLMSpec,
    *,
    calibration: str | Path | None = None,
    seed: int = 0,
    hint: bool = False,
) -> Subject:
    """The agent the fidelity suite questions: the utility model, the LLM, or both (hybrid).

    Args:
        policy: ``utility``, ``llm`` or ``hybrid``, as a run's ``policy``.
        llm: The backend for ``llm`` and ``hybrid`` (built as a run builds it).
        calibration: A ``recworld calibrate`` file for the utility model's parameters.
        hint: Show the LLM the taste core's estimate in each question (``LLMSubject``).
    """
    utility = None
    if policy in ("utility", "hybrid"):
        params = CalibrationResult.load(calibration).params if calibration else None
        utility = UtilitySubject(params)
        if policy == "utility":
            return utility
    agent = LLMSubject(LLMRuntime(build_llm(llm, seed)), hint=hint)
    return HybridSubject(utility, agent) if utility is not None else agent


def _collection_safe(name: str) -> str:
    """Chroma collection names allow [a-zA-Z0-9._-], 3-512 characters."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("._-")
    return (safe or "run")[:480]
