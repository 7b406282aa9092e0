"""The composition root: a ``RunConfig`` in, built parts and a running world out.

The only part of ``simulator`` below the CLI that imports ``scenarios`` (for dataset
loaders and profiles); the world, evaluation, fidelity and report receive what is built
here.
"""

from simulator.compose.components import (
    build_arms,
    build_fidelity_subject,
    build_llm,
    build_memory_store,
    build_recommender,
    load_config_dataset,
    open_memory_store,
    utility_params,
)
from simulator.compose.run import build_parts, build_policy, open_world, resume_world

__all__ = [
    "build_arms",
    "build_fidelity_subject",
    "build_llm",
    "build_memory_store",
    "build_parts",
    "build_policy",
    "build_recommender",
    "load_config_dataset",
    "open_memory_store",
    "open_world",
    "resume_world",
    "utility_params",
]
