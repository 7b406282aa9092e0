"""Text embedders. Every one returns L2-normalised float32 rows."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Signed feature hashing of word unigrams and bigrams: no model, microseconds a text.

    For tests and very large runs. The hash is CRC32, not Python's ``hash``, so vectors are
    the same in every process.
    """

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self._cache: dict[str, tuple[int, float]] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.lower().split()
            for token in (*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))):
                col, sign = self._slot(token)
                out[row, col] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _slot(self, token: str) -> tuple[int, float]:
        hit = self._cache.get(token)
        if hit is None:
            h = zlib.crc32(token.encode())
            hit = (h % self.dim, 1.0 if (h >> 31) & 1 else -1.0)
            if len(self._cache) < 1_000_000:
                self._cache[token] = hit
        return hit
