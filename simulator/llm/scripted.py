"""A deterministic, seeded backend that answers every request with a schema-valid reply.

Each answer depends only on the backend seed and the request itself (messages, schema,
choices, request seed), never on batch order or on earlier calls, so a run replays
byte for byte and tests can reorder batches freely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel

from simulator.llm.tokens import approx_tokens, prompt_tokens
from simulator.types import LLMRequest, LLMResponse

_WORDS = (
    "looks",
    "fun",
    "familiar",
    "bold",
    "cozy",
    "slow",
    "sharp",
    "warm",
    "dark",
    "bright",
    "clever",
    "light",
    "tense",
    "quiet",
    "loud",
    "fresh",
    "classic",
    "odd",
    "moving",
    "gentle",
)


class ScriptedLLM:
    """Schema-valid pseudo-random answers; no model, no network.

    Args:
        seed: Changes every answer; the same seed gives the same answers.
        model: A label for logs and stats.
    """

    name = "scripted"

    def __init__(self, *, seed: int = 0, model: str = "scripted-v1") -> None:
        self.seed = seed
        self.model = model

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        return [self._answer(r) for r in requests]

    def _answer(self, request: LLMRequest) -> LLMResponse:
        rng = np.random.default_rng(self._request_seed(request))
        n_prompt = prompt_tokens(request.messages)
        if request.choices is not None:
            probs = rng.dirichlet(np.ones(len(request.choices)))
            best = request.choices[int(np.argmax(probs))]
            return LLMResponse(
                text=best,
                choice_probs={c: float(p) for c, p in zip(request.choices, probs, strict=True)},
                prompt_tokens=n_prompt,
                completion_tokens=1,
            )
        if request.schema is not None:
            schema = _json_schema(request.schema)
            value = sample_json(schema, schema.get("$defs", {}), rng)
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = " ".join(rng.choice(_WORDS, size=8))
        return LLMResponse(text=text, prompt_tokens=n_prompt, completion_tokens=approx_tokens(text))

    def _request_seed(self, request: LLMRequest) -> int:
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.seed}|{request.seed}|{request.tag}|".encode())
        for m in request.messages:
            h.update(f"{m.role}\x00{m.content}\x01".encode())
        if request.schema is not None:
            h.update(request.schema.__name__.encode())
        if request.choices is not None:
            h.update("\x02".join(request.choices).encode())
        return int.from_bytes(h.digest(), "little")


@lru_cache(maxsize=256)
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def sample_json(schema: dict[str, Any], defs: dict[str, Any], rng: np.random.Generator) -> Any:
    """Draw one instance of a pydantic-generated JSON schema.

    Written by hand because the scripted backend must run in the default install and be
    seeded by our own generator; it covers what pydantic emits for our output schemas.
    """
    if "$ref" in schema:
        return sample_json(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, rng)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample_json(options[int(rng.integers(len(options)))], defs, rng)
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample_json(sub, defs, rng) for name, sub in props.items()}
    if kind == "array":
        lo = schema.get("minItems", 0)
        hi = schema.get("maxItems", lo + 3)
        items = schema.get("items", {})
        values = [sample_json(items, defs, rng) for _ in range(int(rng.integers(lo, hi + 1)))]
        if schema.get("uniqueItems"):
            values = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in values))
            values = [json.loads(v) for v in values]
        return values
    if kind == "integer":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        hi = schema.get("maximum", schema.get("exclusiveMaximum", lo + 10) - 1)
        return int(rng.integers(lo, hi + 1))
    if kind == "number":
        lo = float(schema.get("minimum", 0.0))
        hi = float(schema.get("maximum", lo + 1.0))
        return round(float(rng.uniform(lo, hi)), 3)
    if kind == "boolean":
        return bool(rng.integers(2))
    max_len = int(schema.get("maxLength", 60))
    words = rng.choice(_WORDS, size=int(rng.integers(2, 7)))
    text = " ".join(words)[:max_len]
    return text.ljust(int(schema.get("minLength", 0)), ".")
