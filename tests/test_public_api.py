"""Public names import from their packages, and dependencies flow one way.

``simulator``, ``agents``, ``memory`` and ``scenarios`` install as top-level packages;
``agents`` in particular clashes with other distributions, so this guards the names.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = {
    "simulator": [
        "World",
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
    "scenarios": ["Scenario", "load_scenario", "shipped_scenarios", "load_dataset"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_import(package):
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve().parent == ROOT / package, "another package shadows ours"
    for name in PUBLIC[package]:
        assert getattr(module, name) is not None


# package -> packages it may import (besides simulator.types, which anyone may use)
ALLOWED = {
    "memory": set(),
    "agents": {"memory"},
    "simulator": {"agents", "memory"},
    "scenarios": {"simulator", "agents", "memory"},
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


# The CLI is the composition root: it alone wires scenarios into the world.
COMPOSITION_ROOTS = set((ROOT / "simulator" / "cli").glob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_flow_one_way(package):
    ours = set(ALLOWED)
    for path in set((ROOT / package).rglob("*.py")) - COMPOSITION_ROOTS:
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ours and top != package and name != "simulator.types":
                assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"


def test_types_imports_none_of_ours():
    assert not {n.split(".")[0] for n in _imports(ROOT / "simulator/types.py")} & set(ALLOWED)


def test_agents_never_call_a_backend_directly():
    for path in (ROOT / "agents").rglob("*.py"):
        assert not any(n.startswith("simulator.llm") for n in _imports(path)), path
