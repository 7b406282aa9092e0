"""Local Hugging Face models: left-padded batched generation and choice scoring.

torch and transformers are imported when a backend is built, never at ``import simulator``.
JSON answers are grammar-constrained with xgrammar (the engine vLLM uses) when it is
installed; otherwise the schema goes into the prompt and the runtime validates and
repairs. Choice requests are scored, not generated: the probability of each option is
read from the model's log-probabilities, so they never fail to parse.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from simulator.errors import RecworldError
from simulator.llm.messages import as_dicts, choice_instruction, normalise, schema_instruction
from simulator.types import ChatMessage, LLMRequest, LLMResponse

PROBE = "yes"
"""A word every tokenizer encodes without special tokens when asked for none."""


def check_bare_encoding(tokenizer: Any, where: str) -> None:
    """Refuse a tokenizer that adds special tokens to text it is told to leave bare.

    Choice scoring reads each option's own tokens: an option that gains a BOS token is
    scored as two tokens, by another code path, and the answers change. transformers 5.3
    converts SmolLM2's GGUF tokenizer this way.
    """
    import transformers

    ids = tokenizer.encode(PROBE, add_special_tokens=False)
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    if special.intersection(ids):
        raise RecworldError(
            f"{where}: its tokenizer adds special tokens to bare text ({PROBE!r} -> {ids}), "
            f"which breaks choice scoring; transformers {transformers.__version__} loaded it "
            "(5.3 converts GGUF tokenizers this way): install transformers<5.3 as "
            "constraints.txt pins it, and delete a folder converted by that version "
            "(~/.cache/recworld/smollm2-135m) to convert it again"
        )


class TransformersLLM:
    """A causal LM from a local folder (or a GGUF file in it), batched on CPU or GPU.

    Args:
        path: A model folder with config, weights and tokenizer.
        gguf_file: A GGUF file name inside ``path``, de-quantised on load (slow: prefer
            the cached folder that ``smollm2_path`` writes).
        device: ``cpu``, ``cuda`` or ``auto``.
        dtype: torch dtype name; ``auto`` is float32 on CPU and bfloat16 on GPU.
        max_batch: Rows per forward pass; a larger batch is split, still one ``generate``.
        guided_json: Constrain JSON answers with xgrammar when it is installed.
        model: A label for logs; defaults to the folder name.
    """

    name = "transformers"
    choice_logprobs = True

    def __init__(
        self,
        path: str,
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        seed: int = 0,
        max_batch: int = 32,
        guided_json: bool = True,
        model: str | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        self.torch = torch
        self.seed = seed
        self.max_batch = max_batch
        self.model = model or str(path).rstrip("/").rsplit("/", 1)[-1]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        torch_dtype = (
            getattr(torch, dtype)
            if dtype != "auto"
            else (torch.bfloat16 if device == "cuda" else torch.float32)
        )
        kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        check_bare_encoding(self.tokenizer, str(path))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
        self.lm.to(device).eval()
        self._grammars = (
            _Grammars(self.tokenizer, self.lm.config.vocab_size) if guided_json else None
        )

    @classmethod
    def from_objects(cls, lm: Any, tokenizer: Any, *, model: str, **kwargs: Any) -> TransformersLLM:
        """Wrap a model and tokenizer already in memory (benchmarks, notebooks)."""
        import torch

        self = cls.__new__(cls)
        self.torch = torch
        self.seed = kwargs.get("seed", 0)
        self.max_batch = kwargs.get("max_batch", 32)
        self.model = model
        self.device = str(next(lm.parameters()).device)
        check_bare_encoding(tokenizer, model)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = lm.eval()
        self._grammars = None
        return self

    @property
    def fingerprint(self) -> str:
        return f"{self.name}:{self.model}"

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        out: list[LLMResponse | None] = [None] * len(requests)
        choice = [i for i, r in enumerate(requests) if r.choices is not None]
        for i, answer in zip(choice, self._score([requests[i] for i in choice]), strict=True):
            out[i] = answer
        rest = [i for i, r in enumerate(requests) if r.choices is None]
        # Schema and free-text requests decode separately: a batch shares one logits processor.
        for group in (
            [i for i in rest if requests[i].schema is not None],
            [i for i in rest if requests[i].schema is None],
        ):
            for i, answer in zip(group, self._generate([requests[i] for i in group]), strict=True):
                out[i] = answer
        return out  # type: ignore[return-value]

    # -- prompts ---------------------------------------------------------------------------

    def prompt(self, request: LLMRequest) -> str:
        """The chat-templated prompt, with the answer format appended to the last turn."""
        messages = list(request.messages)
        if request.schema is not None:
            messages.append(ChatMessage("user", schema_instruction(request)))
        elif request.choices is not None:
            messages.append(ChatMessage("user", choice_instruction(request)))
        merged = as_dicts(messages)
        return self.tokenizer.apply_chat_template(
            merged, add_generation_prompt=True, tokenize=False
        )

    # -- choice scoring --------------------------------------------------------------------

    def _score(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        if not requests:
            return []
        prompts = [self.prompt(r) for r in requests]
        options = [[self._option_ids(c) for c in r.choices] for r in requests]  # type: ignore[union-attr]
        single = all(len(ids) == 1 for opts in options for ids in opts)
        answers: list[LLMResponse | None] = [None] * len(requests)
        for chunk in self._chunks(prompts):
            began = time.perf_counter()
            part_prompts = [prompts[i] for i in chunk]
            part_options = [options[i] for i in chunk]
            if single:
                scores, lengths = self._score_next_token(part_prompts, part_options)
            else:
                scores, lengths = self._score_sequences(part_prompts, part_options)
            latency = (time.perf_counter() - began) / len(chunk)
            for i, logps, n in zip(chunk, scores, lengths, strict=True):
                choices = requests[i].choices
                probs = normalise(dict(zip(choices, logps, strict=True)), choices)  # type: ignore[arg-type]
                answers[i] = LLMResponse(
                    text=max(probs, key=probs.__getitem__),
                    choice_probs=probs,
                    prompt_tokens=n,
                    completion_tokens=1,
                    latency_s=latency,
                )
        return answers  # type: ignore[return-value]

    def _chunks(self, prompts: Sequence[str]) -> list[list[int]]:
        """Indices in batches of similar length, so little compute goes to padding."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        return [order[s : s + self.max_batch] for s in range(0, len(order), self.max_batch)]

    def _option_ids(self, option: str) -> list[int]:
        return self.tokenizer.encode(option, add_special_tokens=False)

    def _score_next_token(self, prompts: list[str], options: list[list[list[int]]]):
        """Every option is one token: one forward pass, read the last position."""
        torch = self.torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            logits = self.lm(**enc, use_cache=False, logits_to_keep=1).logits[:, -1, :]
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        scores = [[float(logp[row, ids[0]]) for ids in opts] for row, opts in enumerate(options)]
        return scores, enc["attention_mask"].sum(dim=1).tolist()

    def _score_sequences(self, prompts: list[str], options: list[list[list[int]]]):
        """Multi-token options: sum each option's token log-probabilities, teacher-forced."""
        torch = self.torch
        rows, owners = [], []
        for r, (prompt, opts) in enumerate(zip(prompts, options, strict=True)):
            prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
            for ids in opts:
                rows.append((prompt_ids, ids))
                owners.append(r)
        width = max(len(p) + len(o) for p, o in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (p, o) in enumerate(rows):
            seq = p + o
            input_ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, width - len(seq) :] = 1
        with torch.inference_mode():
            logits = self.lm(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        scores: list[list[float]] = [[] for _ in prompts]
        for i, (_, o) in enumerate(rows):
            positions = range(width - len(o) - 1, width - 1)
            scores[owners[i]].append(
                sum(float(logp[i, pos, tok]) for pos, tok in zip(positions, o, strict=True))
            )
        return scores, [len(self.tokenizer.encode(p, add_special_tokens=False)) for p in prompts]

    # -- generation ------------------------------------------------------------------------

    def _generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        answers: list[LLMResponse | None] = [None] * len(requests)
        for chunk in self._chunks([self.prompt(r) for r in requests]):
            part = self._generate_chunk([requests[i] for i in chunk])
            for i, answer in zip(chunk, part, strict=True):
                answers[i] = answer
        return answers  # type: ignore[return-value]

    def _generate_chunk(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        if not requests:
            return []
        torch = self.torch
        began = time.perf_counter()
        enc = self.tokenizer([self.prompt(r) for r in requests], return_tensors="pt", padding=True)
        enc = enc.to(self.device)
        temperature = max(r.temperature for r in requests)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(r.max_tokens for r in requests),
            "do_sample": temperature > 0,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
            torch.manual_seed(requests[0].seed if requests[0].seed is not None else self.seed)
        if self._grammars is not None and requests[0].schema is not None:
            processor = self._grammars.processor([r.schema for r in requests])  # type: ignore[misc]
            if processor is not None:
                kwargs["logits_processor"] = [processor]
        with torch.inference_mode():
            out = self.lm.generate(**enc, **kwargs)
        generated = out[:, enc["input_ids"].shape[1] :]
        latency = (time.perf_counter() - began) / len(requests)
        answers = []
        for row, request in enumerate(requests):
            ids = [t for t in generated[row].tolist() if t != self.tokenizer.pad_token_id]
            ids = ids[: request.max_tokens]
            answers.append(
                LLMResponse(
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    prompt_tokens=int(enc["attention_mask"][row].sum()),
                    completion_tokens=len(ids),
                    latency_s=latency,
                )
            )
        return answers


class _Grammars:
    """Compiled JSON-schema grammars per pydantic model, when xgrammar is available."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        try:
            import xgrammar as xgr
        except ImportError:
            self.xgr = None
            return
        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.compiler = xgr.GrammarCompiler(info)
        self._compiled: dict[type, Any] = {}

    def processor(self, schemas: list[type]) -> Any:
        if self.xgr is None:
            return None
        grammars = []
        for schema in schemas:
            if schema not in self._compiled:
                text = json.dumps(schema.model_json_schema())
                self._compiled[schema] = self.compiler.compile_json_schema(
                    text, any_whitespace=False
                )
            grammars.append(self._compiled[schema])
        return self.xgr.contrib.hf.LogitsProcessor(grammars)
