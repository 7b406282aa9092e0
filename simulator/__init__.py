"""The recworld engine: world loop, LLM runtime, recommenders, logs, evaluation and CLI.

Heavy names load on first use, so ``import simulator.types`` (which agents and memory
use) never pulls in the world.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "World": "simulator.world",
    "WorldParts": "simulator.world",
    "RunConfig": "simulator.config",
    "open_world": "simulator.compose",
    "FinishedRun": "simulator.rundir",
    "Dataset": "simulator.dataset",
    "LLMRuntime": "simulator.llm.runtime",
    "ScriptedLLM": "simulator.llm.scripted",
    "Recommender": "simulator.recommenders.base",
    "RandomRecommender": "simulator.recommenders.baselines",
    "MostPopularRecommender": "simulator.recommenders.baselines",
    "RunLog": "simulator.runlog",
    "read_interactions": "simulator.runlog",
    "RecworldError": "simulator.errors",
    "ScenarioError": "simulator.errors",
    "DatasetError": "simulator.errors",
    "check_recommender": "simulator.testing",
    "evaluate": "simulator.evaluation.offline",
    "compare": "simulator.compose.compare",
    "run_fidelity": "simulator.fidelity.suite",
    "export_run": "simulator.export",
    "write_report": "simulator.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
