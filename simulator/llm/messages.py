"""Helpers every backend shares: chat messages as dicts, and choice probabilities."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from simulator.types import ChatMessage, LLMRequest


def as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """OpenAI-style ``[{"role", "content"}]``; consecutive system messages are merged,
    since several chat templates accept only one."""
    out: list[dict[str, str]] = []
    for m in messages:
        if out and m.role == "system" and out[-1]["role"] == "system":
            out[-1]["content"] += "\n\n" + m.content
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def schema_instruction(request: LLMRequest) -> str:
    """A line asking for JSON of the request's schema, for backends without constraints."""
    assert request.schema is not None
    schema = json.dumps(request.schema.model_json_schema(), separators=(",", ":"))
    return f"Reply with one JSON object matching this JSON schema, and nothing else: {schema}"


def choice_instruction(request: LLMRequest) -> str:
    assert request.choices is not None
    return "Answer with exactly one of: " + ", ".join(request.choices) + "."


def normalise(logprobs: Mapping[str, float], choices: Sequence[str]) -> dict[str, float]:
    """Softmax over the options' log-probabilities; options without one get probability 0.

    When no option has a log-probability at all, every option is equally likely.
    """
    known = {c: logprobs[c] for c in choices if c in logprobs and math.isfinite(logprobs[c])}
    if not known:
        return {c: 1.0 / len(choices) for c in choices}
    top = max(known.values())
    weights = {c: math.exp(known[c] - top) if c in known else 0.0 for c in choices}
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items()}
