"""Retrieval scoring: recency + importance + relevance, each in [0, 1] (Generative Agents).

The parts are absolute rather than min-max normalised over the candidates, so a record's
score does not depend on which other records happen to be stored beside it.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ScoringWeights(BaseModel):
    """Weights of the three parts, and how fast recency decays per step since last access."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recency: float = Field(1.0, ge=0)
    importance: float = Field(1.0, ge=0)
    relevance: float = Field(1.0, ge=0)
    decay: float = Field(0.995, gt=0, le=1)


def recency(now: int | float, last_access: np.ndarray, decay: float) -> np.ndarray:
    """``decay ** steps_since_access``: 1 for a record touched this step, falling with age.

    The exponent is the age, so the most recently accessed record scores highest; using
    the access time itself as the exponent would reverse the order.
    """
    age = np.maximum(np.asarray(now, dtype=float) - last_access, 0.0)
    return np.power(decay, age)


def relevance(similarity: np.ndarray) -> np.ndarray:
    """Map cosine similarity in [-1, 1] to [0, 1]."""
    return np.clip((np.asarray(similarity, dtype=float) + 1.0) / 2.0, 0.0, 1.0)


def retrieval_score(
    rec: np.ndarray, importance: np.ndarray, rel: np.ndarray, weights: ScoringWeights
) -> np.ndarray:
    """Weighted mean of the three parts, so the score stays in [0, 1]."""
    total = weights.recency + weights.importance + weights.relevance
    if total == 0:
        return np.zeros_like(rec, dtype=float)
    mixed = weights.recency * rec + weights.importance * importance + weights.relevance * rel
    return mixed / total


class ForgettingConfig(BaseModel):
    """Power-law forgetting: ``retention = (1 + age) ** -(alpha * (1 - shield * importance))``.

    Important records decay more slowly; a record whose retention falls below
    ``threshold`` is marked forgotten (kept for audit, left out of retrieval).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    alpha: float = Field(0.5, gt=0)
    shield: float = Field(0.8, ge=0, le=1)
    threshold: float = Field(0.15, ge=0, lt=1)


def retention(
    now: int | float, last_access: np.ndarray, importance: np.ndarray, config: ForgettingConfig
) -> np.ndarray:
    """How much of each record survives, in (0, 1]; 1 for a record touched this step."""
    age = np.maximum(np.asarray(now, dtype=float) - np.asarray(last_access, dtype=float), 0.0)
    exponent = config.alpha * (1.0 - config.shield * np.clip(importance, 0.0, 1.0))
    return np.power(1.0 + age, -exponent)
