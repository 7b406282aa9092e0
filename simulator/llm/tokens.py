"""A rough token count for backends that have no tokenizer (the scripted one)."""

from __future__ import annotations

from simulator.types import ChatMessage


def approx_tokens(text: str) -> int:
    """About 0.75 words per token, the usual rule of thumb for English BPE vocabularies."""
    return max(1, round(len(text.split()) / 0.75)) if text else 0


def prompt_tokens(messages: tuple[ChatMessage, ...]) -> int:
    return sum(approx_tokens(m.content) + 4 for m in messages)
