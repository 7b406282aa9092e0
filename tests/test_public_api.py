"""Public names import from their packages.

``simulator``, ``agents``, ``memory`` and ``scenarios`` install as top-level packages;
``agents`` in particular clashes with other distributions, so this guards the names. The
direction of imports is checked by ``lint-imports`` (the contracts in ``.importlinter``),
which the test command runs first.
"""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = {
    "simulator": [
        "World",
        "WorldParts",
        "RunConfig",
        "open_world",
        "FinishedRun",
        "Dataset",
        "LLMRuntime",
        "ScriptedLLM",
        "Recommender",
        "RandomRecommender",
        "MostPopularRecommender",
        "RunLog",
        "read_interactions",
        "RecworldError",
        "ScenarioError",
        "DatasetError",
        "check_recommender",
        "evaluate",
        "compare",
        "run_fidelity",
        "export_run",
        "write_report",
    ],
    "agents": [
        "UserAgent",
        "ItemAgent",
        "UserProfile",
        "ItemProfile",
        "Traits",
        "BrowseAction",
        "LLMPolicy",
        "Policy",
        "PageObservation",
        "PageOutcome",
    ],
    "memory": [
        "MemoryRecord",
        "MemoryStore",
        "InMemoryStore",
        "HashingEmbedder",
        "ScoringWeights",
        "retrieval_score",
    ],
    "scenarios": ["RunConfig", "load_scenario", "shipped_scenarios", "load_dataset"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_import(package):
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve().parent == ROOT / package, "another package shadows ours"
    for name in PUBLIC[package]:
        assert getattr(module, name) is not None


def test_import_contracts_hold():
    """The layers of docs/ARCHITECTURE.md, as ``lint-imports`` checks them (make test runs it
    too, so a plain ``pytest`` run catches an import that points up)."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / ".importlinter")) == 0
