"""An on-disk response cache in SQLite, in front of any backend.

The key covers everything that decides an answer: the backend and model (its
``fingerprint``), the messages, the schema, the choices, max_tokens, temperature and seed.
A rerun of a cached run sends nothing to the model and writes identical logs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from simulator.types import LLM, LLMRequest, LLMResponse


def request_key(fingerprint: str, request: LLMRequest) -> str:
    payload = {
        "backend": fingerprint,
        "messages": [[m.role, m.content] for m in request.messages],
        "schema": request.schema.model_json_schema() if request.schema else None,
        "choices": list(request.choices) if request.choices else None,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class CachedLLM:
    """Answers from the cache where it can; the misses go to the backend in one batch.

    Answers the backend itself marked failed (``error`` set) are not cached, so a rerun tries
    them again. Answers that later fail schema validation are cached like any other: a rerun
    replays the same answer, and its repair, exactly.
    """

    def __init__(self, backend: LLM, path: str | Path) -> None:
        self.backend = backend
        self.name = backend.name
        self.model = backend.model
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, answer TEXT NOT NULL)"
        )
        # The backend's own seed changes its answers (scripted, sampled), so it is in the key.
        base = getattr(backend, "fingerprint", f"{backend.name}:{backend.model}")
        self._fingerprint = f"{base}:seed={getattr(backend, 'seed', None)}"

    def health(self) -> str | None:
        """The wrapped backend's ``health()`` (``None`` when it has none)."""
        health = getattr(self.backend, "health", None)
        return health() if health is not None else None

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        keys = [request_key(self._fingerprint, r) for r in requests]
        found = self._lookup(set(keys))
        misses = [i for i, k in enumerate(keys) if k not in found]
        fresh = self.backend.generate([requests[i] for i in misses]) if misses else []
        out: list[LLMResponse | None] = [None] * len(requests)
        rows = []
        for i, answer in zip(misses, fresh, strict=True):
            out[i] = answer
            if answer.error is None:
                rows.append((keys[i], _dump(answer)))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?)", rows)
        for i, key in enumerate(keys):
            if out[i] is None:
                out[i] = found[key]
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self._db.close()
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def _lookup(self, keys: set[str]) -> dict[str, LLMResponse]:
        found: dict[str, LLMResponse] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            part = ordered[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT key, answer FROM responses WHERE key IN ({marks})"
            for key, answer in self._db.execute(query, part):
                found[key] = _load(answer)
        return found


def _dump(answer: LLMResponse) -> str:
    return json.dumps(
        {
            "text": answer.text,
            "choice_probs": answer.choice_probs,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
        }
    )


def _load(raw: str) -> LLMResponse:
    d = json.loads(raw)
    return LLMResponse(
        text=d["text"],
        choice_probs=d["choice_probs"],
        prompt_tokens=d["prompt_tokens"],
        completion_tokens=d["completion_tokens"],
        cached=True,
    )
