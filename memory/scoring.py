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
