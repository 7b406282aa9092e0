"""Our embedders as Chroma embedding functions, registered by name.

A collection stores its function's name and config; when it is reopened in a new process
Chroma rebuilds the function from this registry. Without it Chroma would fall back to its
default function, which downloads a model at run time.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from memory.embedders import Embedder, HashingEmbedder, make_embedder


class _RecworldFunction(EmbeddingFunction[Documents]):
    embedder: Embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "ip"]

    def is_legacy(self) -> bool:
        return False


@register_embedding_function
class HashingFunction(_RecworldFunction):
    def __init__(self, dim: int = 256) -> None:
        self.embedder = HashingEmbedder(dim)

    @staticmethod
    def name() -> str:
        return "recworld-hashing"

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.embedder.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingFunction:
        return HashingFunction(int(config.get("dim", 256)))


@register_embedding_function
class MiniLMFunction(_RecworldFunction):
    EMBEDDER = "minilm"

    def __init__(self, precision: str = "auto") -> None:
        self.embedder = make_embedder(self.EMBEDDER, precision)

    @staticmethod
    def name() -> str:
        return "recworld-minilm"

    def get_config(self) -> dict[str, Any]:
        # The arithmetic the vectors were made with (collections from before it: auto).
        return {"precision": getattr(self.embedder, "precision", "auto")}

    @classmethod
    def build_from_config(cls, config: dict[str, Any]) -> MiniLMFunction:
        return cls(config.get("precision", "auto"))


@register_embedding_function
class StaticMiniLMFunction(MiniLMFunction):
    EMBEDDER = "minilm-static"

    @staticmethod
    def name() -> str:
        return "recworld-minilm-static"


NAMED = {"minilm": MiniLMFunction, "minilm-static": StaticMiniLMFunction}
"""The model embedders' Chroma functions by embedder name (hashing takes its dimension)."""


def chroma_function(name: str, dim: int, precision: str = "auto") -> _RecworldFunction:
    """The registered Chroma function that embeds as the embedder ``name`` does.

    A collection records it (name and config), so that Chroma reopens the collection with
    this function and never with its default (which downloads a model). Any other embedder
    (your own) gets the hashing function of its dimension: the store always hands Chroma
    its vectors, so the function is never asked to embed them.
    """
    if name in NAMED:
        return NAMED[name](precision)
    return HashingFunction(dim)
