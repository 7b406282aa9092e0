"""A causal LM fine-tuned with LoRA by ``recworld tune``, as a backend like any other.

A tuned folder holds ``tune.json`` (what was tuned: the base model, the item
representation, the settings), ``adapter/`` (the LoRA weights and the tokenizer, with
the item tokens when items are IDs) and ``examples.jsonl`` (the data it saw). Loading
merges the adapter into the base, so inference costs what the base costs.

Items are shown to a tuned model as they were in tuning. With the ``text``
representation that is their title and genres, as every prompt has them. With ``id``,
every known title in a prompt is replaced by the item's own token (``<item_ID>``, one
new vocabulary entry per item, trained with the adapter): the same rewrite is applied to
the tuning examples and to every prompt the backend is sent, so user agents, the fidelity
suite and the ``tuned-llm`` recommender all speak to it in its own terms.

torch, transformers and peft are imported when a tuned model is loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.errors import RecworldError
from simulator.llm.transformers_backend import TransformersLLM
from simulator.types import LLMRequest

TUNE_FILE = "tune.json"
ADAPTER = "adapter"
EXAMPLES = "examples.jsonl"
REPRESENTATIONS = ("text", "id")


def item_token(item_id: str) -> str:
    """The vocabulary entry that stands for one item in the ``id`` representation."""
    return f"<item_{item_id}>"


class ItemTokens:
    """Rewrites prompts for the ``id`` representation: each known title becomes its token.

    Titles are matched longest first, so "Heat" inside "White Heat" is not rewritten
    on its own. Two items with one title share the first one's token.
    """

    def __init__(self, titles: Mapping[str, str]) -> None:
        self.token_of: dict[str, str] = {}
        for item, title in titles.items():
            title = str(title).strip()
            if title and title not in self.token_of:
                self.token_of[title] = item_token(str(item))
        names = sorted(self.token_of, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    @property
    def tokens(self) -> list[str]:
        return sorted(set(self.token_of.values()))

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.token_of[m.group(0)], text)


def read_tune_file(folder: str | Path) -> dict[str, Any]:
    """The ``tune.json`` of a tuned folder.

    Raises:
        RecworldError: The folder is not one ``recworld tune`` wrote.
    """
    path = Path(folder) / TUNE_FILE
    if not path.is_file():
        raise RecworldError(
            f"{folder}: no {TUNE_FILE} here; give a folder that `recworld tune` wrote"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def base_model_path(base: str) -> str:
    """A base model's folder: ``smollm2`` is the shipped SmolLM2, anything else a path."""
    if base == "smollm2":
        from simulator.llm.smollm2 import smollm2_path

        return str(smollm2_path())
    if not (Path(base) / "config.json").is_file():
        raise RecworldError(
            f"base model {base}: no config.json there; give 'smollm2' or a Hugging Face "
            "model folder"
        )
    return base


class TunedLLM(TransformersLLM):
    """A ``TransformersLLM`` over a base model with a tuned adapter merged in, whose
    prompts get the tuning's item representation."""

    name = "tuned"
    items: ItemTokens | None = None

    def prompt(self, request: LLMRequest) -> str:
        text = super().prompt(request)
        return self.items.rewrite(text) if self.items is not None else text


def load_tuned(folder: str | Path, *, seed: int = 0, **options: Any) -> TunedLLM:
    """Load a tuned folder as a backend (the adapter merged into its base), on the GPU
    when there is one (``options``: ``device``, ``max_batch``)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    info = read_tune_file(folder)
    adapter = Path(folder) / ADAPTER
    device = options.get("device", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    lm = AutoModelForCausalLM.from_pretrained(
        base_model_path(info["base"]),
        dtype=torch.bfloat16 if device == "cuda" else torch.float32,
    )
    if len(tokenizer) != lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer))
    lm = PeftModel.from_pretrained(lm, adapter).merge_and_unload().to(device)
    llm = TunedLLM.from_objects(lm, tokenizer, model=f"tuned:{Path(folder).name}", seed=seed)
    if info.get("representation") == "id":
        llm.items = ItemTokens(info.get("titles", {}))
    if options.get("max_batch"):
        llm.max_batch = int(options["max_batch"])
    return llm
