"""Scenario files, their schema, dataset loaders and the population built from a dataset."""

from scenarios.datasets import DATASET_KINDS, load_dataset
from scenarios.schema import Scenario, load_scenario, shipped_scenarios

__all__ = ["DATASET_KINDS", "Scenario", "load_dataset", "load_scenario", "shipped_scenarios"]
