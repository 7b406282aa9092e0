"""Build a backend from a spec such as ``scripted`` or ``scripted:seed=3``."""

from __future__ import annotations

from simulator.errors import ScenarioError
from simulator.llm.scripted import ScriptedLLM
from simulator.types import LLM

BACKENDS = ("scripted",)


def make_llm(backend: str, *, model: str | None = None, seed: int = 0, **options: object) -> LLM:
    """Create the named backend; unknown names get an error listing the known ones."""
    if backend == "scripted":
        return ScriptedLLM(seed=seed, model=model or "scripted-v1")
    raise ScenarioError(
        f"llm.backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
    )


def parse_llm_spec(spec: str) -> tuple[str, str | None]:
    """Split ``--llm BACKEND[:MODEL]`` into backend and model."""
    backend, _, model = spec.partition(":")
    return backend, (model or None)
