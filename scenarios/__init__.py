"""Scenario files, the loader that validates them into a ``RunConfig``, dataset loaders and
the profiles a population is built from."""

from scenarios.datasets import DATASET_KINDS, load_dataset
from scenarios.loader import load_scenario, shipped_scenarios
from simulator.config import RunConfig

__all__ = ["DATASET_KINDS", "RunConfig", "load_dataset", "load_scenario", "shipped_scenarios"]
