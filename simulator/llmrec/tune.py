"""LoRA instruction tuning of a causal LM on recommendation questions (``recworld tune``).

Every answer is one token (``yes``/``no``, a letter), so the loss is the cross-entropy of
the answer's token at the end of the chat-templated prompt, exactly where the backend
reads choice probabilities when it scores. That makes the loop a dozen lines of torch,
written here rather than through ``transformers.Trainer``, whose causal-LM collators
would train on every prompt token instead.

The adapter comes from ``peft`` (LoRA on the attention projections). With the ``id``
representation each item gets a new token, whose embedding row is trained too (peft's
``trainable_token_indices``), initialised at the mean embedding of its title's tokens.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simulator.errors import RecworldError
from simulator.llm.transformers_backend import TransformersLLM
from simulator.llm.tuned import (
    ADAPTER,
    EXAMPLES,
    REPRESENTATIONS,
    TUNE_FILE,
    ItemTokens,
    base_model_path,
)
from simulator.llmrec.instructions import Example, write_examples

PROBE = 32
"""Examples the accuracy before and after tuning is measured on (a forward pass each)."""


@dataclass
class TuneConfig:
    """Args:
    base: ``smollm2`` (the shipped SmolLM2-135M-Instruct) or a Hugging Face model folder.
    representation: ``text`` (titles and genres) or ``id`` (one new token per item).
    epochs: Passes over the examples.
    batch_size: Examples per optimiser step.
    learning_rate: AdamW step size for the adapter (and the item tokens).
    rank: LoRA rank; ``alpha`` is twice it.
    top_layers: Adapt only the last this-many transformer layers (None: all). Below
        them nothing needs a gradient, so a step costs about half as much on a CPU.
    seed: Seeds the adapter's initial weights and the order of examples.
    """

    base: str = "smollm2"
    representation: str = "text"
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 1e-3
    rank: int = 8
    top_layers: int | None = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            known = ", ".join(REPRESENTATIONS)
            raise RecworldError(f"representation {self.representation!r}: choose one of {known}")
        if self.epochs < 1 or self.batch_size < 1 or self.rank < 1 or self.learning_rate <= 0:
            raise RecworldError("epochs, batch size and rank must be at least 1, the rate above 0")


@dataclass
class TuneResult:
    folder: Path
    examples: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    """Mean training loss per epoch."""
    accuracy_before: float = float("nan")
    accuracy_after: float = float("nan")
    """Share of ``PROBE`` examples whose answer is the model's top choice, before and after
    tuning (the examples it trained on: a check that it learned, not a held-out score)."""


def tune(
    examples: list[Example],
    out: str | Path,
    config: TuneConfig,
    *,
    titles: dict[str, str] | None = None,
    dataset: str = "",
    hint: bool = False,
) -> TuneResult:
    """Fine-tune ``config.base`` on ``examples`` and write the tuned folder ``out``.

    Args:
        titles: Item id -> title, for the ``id`` representation (the tokens to add).
        dataset: The data's name, recorded in ``tune.json``.
        hint: Whether the examples carry the taste core's estimate, recorded in
            ``tune.json`` (ask the model with the hint too).
    """
    if not examples:
        raise RecworldError("no instruction examples to tune on")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    path = base_model_path(config.base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lm = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.bfloat16 if device == "cuda" else torch.float32
    )
    items = ItemTokens(titles or {}) if config.representation == "id" else None
    new_ids: list[int] = []
    if items is not None:
        new_ids = _add_item_tokens(lm, tokenizer, items)
    layers = lm.config.num_hidden_layers
    top = layers if config.top_layers is None else min(config.top_layers, layers)
    adapter = LoraConfig(
        layers_to_transform=list(range(layers - top, layers)),
        r=config.rank,
        lora_alpha=2 * config.rank,
        lora_dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
        **({"trainable_token_indices": {"embed_tokens": new_ids}} if new_ids else {}),
    )
    model = get_peft_model(lm, adapter).to(device)
    scorer = TransformersLLM.from_objects(model, tokenizer, model="tuning")
    prompts = [scorer.prompt(e.request) for e in examples]
    if items is not None:
        prompts = [items.rewrite(p) for p in prompts]
    targets = [tokenizer.encode(e.answer, add_special_tokens=False)[0] for e in examples]
    options = [
        [tokenizer.encode(c, add_special_tokens=False)[0] for c in e.request.choices or ()]
        for e in examples
    ]
    result = TuneResult(Path(out), len(examples), 0.0)
    rng = np.random.default_rng(config.seed)
    probe = sorted(rng.permutation(len(prompts))[:PROBE].tolist())
    result.accuracy_before = _accuracy(model, tokenizer, prompts, targets, options, probe)
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate
    )
    tokenizer.padding_side = "left"
    for _ in range(config.epochs):
        model.train()
        losses = []
        epoch = rng.permutation(len(prompts))
        for start in range(0, len(prompts), config.batch_size):
            order = epoch[start : start + config.batch_size].tolist()
            batch = [prompts[i] for i in order]
            enc = tokenizer(batch, return_tensors="pt", padding=True).to(device)
            logits = model(**enc, use_cache=False, logits_to_keep=1).logits[:, -1, :]
            loss = torch.nn.functional.cross_entropy(
                logits.float(), torch.tensor([targets[i] for i in order], device=device)
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        result.losses.append(float(np.mean(losses)))
    result.accuracy_after = _accuracy(model, tokenizer, prompts, targets, options, probe)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder / ADAPTER, save_embedding_layers=False)
    tokenizer.save_pretrained(folder / ADAPTER)
    write_examples(examples, folder / EXAMPLES)
    result.seconds = time.perf_counter() - started
    info = {
        **asdict(config),
        "dataset": dataset,
        "hint": hint,
        "examples": len(examples),
        "tasks": {t: sum(e.task == t for e in examples) for t in ("judge", "rank")},
        "losses": result.losses,
        "accuracy_before": result.accuracy_before,
        "accuracy_after": result.accuracy_after,
        "seconds": round(result.seconds, 1),
        "titles": dict(titles or {}) if items is not None else {},
    }
    (folder / TUNE_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")
    return result


def _add_item_tokens(lm, tokenizer, items: ItemTokens) -> list[int]:
    """Add one token per item; each new row starts at the mean of its title's tokens."""
    import torch

    by_token = {token: title for title, token in items.token_of.items()}
    tokens = items.tokens
    tokenizer.add_tokens(tokens)
    old = lm.get_input_embeddings().num_embeddings
    lm.resize_token_embeddings(len(tokenizer))
    weights = lm.get_input_embeddings().weight
    ids = tokenizer.convert_tokens_to_ids(tokens)
    with torch.no_grad():
        for token, i in zip(tokens, ids, strict=True):
            parts = tokenizer.encode(by_token[token], add_special_tokens=False)
            parts = [p for p in parts if p < old] or [tokenizer.eos_token_id]
            weights[i] = weights[parts].mean(dim=0)
    return list(ids)


def _accuracy(model, tokenizer, prompts, targets, options, rows: list[int]) -> float:
    """Share of ``rows`` whose right answer has the highest probability of its options."""
    import torch

    model.eval()
    tokenizer.padding_side = "left"
    right = 0
    with torch.inference_mode():
        for start in range(0, len(rows), 8):
            part = rows[start : start + 8]
            enc = tokenizer([prompts[i] for i in part], return_tensors="pt", padding=True)
            enc = enc.to(model.device)
            logits = model(**enc, use_cache=False, logits_to_keep=1).logits[:, -1, :]
            for row, i in enumerate(part):
                scores = logits[row, options[i]]
                right += int(options[i][int(scores.argmax())] == targets[i])
    return right / max(1, len(rows))
