"""Small value types shared by every package.

This module imports nothing from ``simulator``, ``agents`` or ``memory``, so any of them
may use it without creating an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat turn; requests keep the shared parts (system, persona) first."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One prompt of a batch.

    A request asks either for free text, for JSON that validates against ``schema``, or
    for the probability of each of ``choices``; never for both of the last two.
    """

    messages: tuple[ChatMessage, ...]
    schema: type[BaseModel] | None = None
    choices: tuple[str, ...] | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    tag: str = "chat"

    def __post_init__(self) -> None:
        if self.schema is not None and self.choices is not None:
            raise ValueError(
                "LLMRequest takes a schema or a list of choices, not both; "
                "split it into two requests"
            )
        if self.choices is not None and len(self.choices) < 2:
            raise ValueError(f"choices needs at least two options, got {self.choices!r}")


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """The answer to one request, in the order of the batch."""

    text: str
    parsed: BaseModel | None = None
    choice_probs: dict[str, float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class LLM(Protocol):
    """A batch-first language model: one call carries a whole phase of the world."""

    name: str
    model: str

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]: ...


class Reaction(StrEnum):
    """What a user did with one exposed item."""

    WATCH = "watch"
    SKIP = "skip"
    FAILED = "failed"
    """Shown, but the model's answer failed: no decision was made (not a skip)."""


ARROW_TYPE = "arrow_type"
"""Key of a logged dataclass field's metadata that names its pyarrow type (``pa.<name>()``)."""


def arrow_columns(row_type: type) -> dict[str, str]:
    """A logged dataclass's columns in field order, each with its pyarrow type name.

    The dataclass is the one definition of a log's schema; ``simulator.runlog`` writes
    and reads the logs with these columns.
    """
    return {f.name: f.metadata[ARROW_TYPE] for f in fields(row_type)}


@dataclass(frozen=True, slots=True)
class Interaction:
    """One exposure of one item to one user: a row of ``interactions.parquet``."""

    step: int = field(metadata={ARROW_TYPE: "int32"})
    user_id: str = field(metadata={ARROW_TYPE: "string"})
    item_id: str = field(metadata={ARROW_TYPE: "string"})
    page: int = field(metadata={ARROW_TYPE: "int16"})
    position: int = field(metadata={ARROW_TYPE: "int16"})
    recommender: str = field(metadata={ARROW_TYPE: "string"})
    action: Reaction = field(metadata={ARROW_TYPE: "string"})
    rating: float | None = field(default=None, metadata={ARROW_TYPE: "float32"})
    reason: str = field(default="", metadata={ARROW_TYPE: "string"})
    feeling: str = field(default="", metadata={ARROW_TYPE: "string"})
    timestamp: int = field(default=0, metadata={ARROW_TYPE: "int64"})
    """Simulated time: the dataset's clock (its latest timestamp) plus the step, as the
    recommenders' training log gets it. The world passes it to the run log with the step's
    rows (``RunLog.append_interactions``); rows in memory keep 0."""


@dataclass(frozen=True, slots=True)
class Event:
    """Anything an agent did besides an exposure: a row of ``events.parquet``.

    Kinds include ``exit``, ``search``, ``chat``, ``post``, ``interview``, ``item_memory``
    and ``correction``; ``value`` and ``text`` carry the kind's payload.
    """

    step: int = field(metadata={ARROW_TYPE: "int32"})
    kind: str = field(metadata={ARROW_TYPE: "string"})
    user_id: str = field(default="", metadata={ARROW_TYPE: "string"})
    item_id: str = field(default="", metadata={ARROW_TYPE: "string"})
    value: float | None = field(default=None, metadata={ARROW_TYPE: "float64"})
    text: str = field(default="", metadata={ARROW_TYPE: "string"})


@dataclass(slots=True)
class StepStats:
    """What one step did, for the progress bar and ``metrics.parquet``."""

    step: int
    active: int = 0
    exposures: int = 0
    watches: int = 0
    rating_sum: float = 0.0
    ratings: int = 0
    pages: int = 0
    llm_batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ExitReason(StrEnum):
    """Why a visit ended: the ``text`` of an ``exit`` event."""

    FAILED = "answer failed"
    PAGE_LIMIT = "page limit"
    NO_MORE = "no more recommendations"
    LEFT = "chose to leave"
