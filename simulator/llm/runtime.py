"""The layer between the world and a backend: validation, one repair round, accounting.

Backends only produce text (and choice probabilities); the runtime turns text into
validated objects, so every backend gets the same never-crash behaviour for free.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ValidationError

from simulator.errors import ServerError
from simulator.sanitise import safe
from simulator.types import LLM, ChatMessage, LLMRequest, LLMResponse

_COUNTERS = (
    "calls",
    "batches",
    "prompt_tokens",
    "completion_tokens",
    "cache_hits",
    "repairs",
    "failures",
    "latency_s",
)


@dataclass
class LLMStats:
    """Running totals, plus what each step cost, for ``llm_stats.json`` and the progress bar."""

    calls: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    repairs: int = 0
    failures: int = 0
    latency_s: float = 0.0
    per_step: list[dict[str, float]] = field(default_factory=list)
    rounds: list[str] = field(default_factory=list)
    """The tag of each batch sent since the step began: a sharded world counts a step's
    batches as the most any shard sent per tag, which is what one process sends."""
    _mark: dict[str, float] = field(default_factory=dict, repr=False)

    def totals(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _COUNTERS}

    def close_step(self, step: int) -> dict[str, float]:
        """Record what this step cost: the difference from the previous step's totals."""
        now = self.totals()
        row = {"step": step, **{k: now[k] - self._mark.get(k, 0) for k in _COUNTERS}}
        self._mark = now
        self.rounds = []
        self.per_step.append(row)
        return row

    def absorb(self, rows: Sequence[dict[str, float]], rounds: Sequence[Sequence[str]]) -> None:
        """Add other runtimes' counters for this step (a sharded world's shards): their
        sums, except batches, which count as the most any one sent per tag."""
        for name in _COUNTERS:
            if name != "batches":
                setattr(self, name, getattr(self, name) + sum(row.get(name, 0) for row in rows))
        most: Counter[str] = Counter()
        for sent in rounds:
            most |= Counter(sent)  # a union of counters keeps each tag's largest count
        self.batches += sum(most.values())
        self.rounds += sorted(most.elements())

    def to_json(self) -> dict[str, object]:
        return {"totals": self.totals(), "per_step": self.per_step}


class LLMRuntime:
    """Sends batches to a backend, validates structured answers, repairs once, counts.

    Args:
        backend: Any object meeting the ``LLM`` protocol.
        max_repairs: Repair rounds for answers that fail their schema; each round is
            one batch holding only the failed requests.
    """

    def __init__(self, backend: LLM, *, max_repairs: int = 1, max_failed_batches: int = 2) -> None:
        self.backend = backend
        self.max_repairs = max_repairs
        self.max_failed_batches = max_failed_batches
        self.failed_batches = 0
        """Batches in a row in which the backend answered no request (a server error)."""
        self.stats = LLMStats()

    def check(self) -> None:
        """Ask the backend whether its server answers (``health()``), before any step.

        Raises:
            ServerError: It does not; the message names the server and the error.
        """
        health = getattr(self.backend, "health", None)
        problem = health() if health is not None else None
        if problem:
            raise ServerError(f"LLM {self.label}: {problem}")

    @property
    def label(self) -> str:
        return f"{self.backend.name}:{self.backend.model}"

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer a whole phase in one backend call (plus repair batches if needed)."""
        if not requests:
            return []
        responses = [
            self._validate(r, a) for r, a in zip(requests, self._send(requests), strict=True)
        ]
        for _ in range(self.max_repairs):
            broken = [
                i for i, a in enumerate(responses) if a.error is not None and requests[i].schema
            ]
            if not broken:
                break
            fixes = self._send([_repair_request(requests[i], responses[i]) for i in broken])
            self.stats.repairs += len(broken)
            for i, fixed in zip(broken, fixes, strict=True):
                responses[i] = self._validate(requests[i], fixed)
        self.stats.failures += sum(1 for a in responses if a.error is not None)
        return responses

    def _count_server_failures(self, answers: Sequence[LLMResponse]) -> None:
        """A batch the backend answered with errors only, ``max_failed_batches`` times in a
        row, means its server is down: stop rather than log a run of failures."""
        if answers and all(a.error is not None and not a.text for a in answers):
            self.failed_batches += 1
        else:
            self.failed_batches = 0
        if self.max_failed_batches and self.failed_batches >= self.max_failed_batches:
            raise ServerError(
                f"LLM {self.label}: {self.failed_batches} batches in a row failed entirely "
                f"({safe(answers[0].error or 'no answer', 200)}); the run stopped in this step, "
                "and the logs hold every step before it"
            )

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def _send(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        start = time.perf_counter()
        answers = self.backend.generate(requests)
        if len(answers) != len(requests):
            raise RuntimeError(
                f"backend {self.label} returned {len(answers)} answers for {len(requests)} "
                "requests; a backend must answer every request, in order"
            )
        self.stats.latency_s += time.perf_counter() - start
        self.stats.batches += 1
        self.stats.rounds.append(requests[0].tag or "")
        self.stats.calls += sum(1 for a in answers if not a.cached)
        self.stats.cache_hits += sum(1 for a in answers if a.cached)
        self.stats.prompt_tokens += sum(a.prompt_tokens for a in answers if not a.cached)
        self.stats.completion_tokens += sum(a.completion_tokens for a in answers if not a.cached)
        self._count_server_failures(answers)
        return answers

    @staticmethod
    def _validate(request: LLMRequest, answer: LLMResponse) -> LLMResponse:
        if request.choices is not None and not answer.choice_probs:
            return replace(answer, error=answer.error or "no probabilities for the choices")
        if request.schema is None or answer.parsed is not None:
            return answer
        try:
            parsed = parse_json(answer.text, request.schema)
        except (ValueError, ValidationError) as exc:
            return replace(answer, error=f"invalid {request.schema.__name__}: {_short(exc)}")
        return replace(answer, parsed=parsed, error=None)


def parse_json(text: str, schema: type[BaseModel]) -> BaseModel:
    """Validate the first JSON object in ``text``, tolerating code fences and chatter."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return schema.model_validate(obj)


def _repair_request(request: LLMRequest, failed: LLMResponse) -> LLMRequest:
    note = (
        f"That answer was not valid: {failed.error}. Reply again with only a JSON object "
        f"that matches this schema: {json.dumps(request.schema.model_json_schema())}"  # type: ignore[union-attr]
    )
    messages = (
        *request.messages,
        ChatMessage("assistant", failed.text[:2000]),
        ChatMessage("user", note),
    )
    return replace(request, messages=messages, tag=f"{request.tag}:repair")


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        return f"{loc}: {err['msg']}"
    return str(exc)[:200]
