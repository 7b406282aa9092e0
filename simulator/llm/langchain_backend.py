"""A backend over any LangChain chat model, for providers the other backends do not speak.

LangChain is imported lazily, inside this module only. Structured requests go through
the model's own ``with_structured_output`` (tool calling or native JSON modes), so each
provider uses its best way of producing valid JSON; models without it get the schema in
the prompt and the runtime validates the text as usual.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.llm.messages import as_dicts
from simulator.llm.openai_backend import choice_probs, most_likely, request_messages, run_sync
from simulator.llm.tokens import approx_tokens, prompt_tokens
from simulator.types import LLMRequest, LLMResponse


class LangChainLLM:
    """Wraps a LangChain ``BaseChatModel``; one ``abatch`` per kind of request and batch.

    The chat model's own settings (temperature, token limit, logprobs) apply; bind them
    on the model, e.g. ``ChatOpenAI(..., logprobs=True, top_logprobs=20)`` to get choice
    probabilities from log-probabilities rather than from the answered option.

    Args:
        chat_model: Any LangChain chat model (``langchain_core`` 1.x ``BaseChatModel``).
        model: A label for logs and stats; defaults to the chat model's model name.
        max_concurrency: Most requests in flight at once; ``None`` leaves it to LangChain.
    """

    name = "langchain"

    def __init__(
        self, chat_model: Any, *, model: str | None = None, max_concurrency: int | None = None
    ) -> None:
        try:
            import langchain_core  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "LangChainLLM needs langchain-core: pip install 'recworld[langchain]'"
            ) from exc
        self.chat_model = chat_model
        self.model = model or _model_name(chat_model)
        self.max_concurrency = max_concurrency
        self._structured: dict[type[BaseModel], Any] = {}
        self.choice_logprobs = False
        """Whether the latest choice answer came with log-probabilities."""

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer the batch in order; failures come back as responses with ``error``."""
        if not requests:
            return []
        return run_sync(self._generate(list(requests)))

    async def _generate(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        groups: dict[int, tuple[Any, list[int]]] = {}
        for i, request in enumerate(requests):
            runnable = self._runnable(request)
            groups.setdefault(id(runnable), (runnable, []))[1].append(i)
        start = time.perf_counter()
        outputs = await asyncio.gather(
            *(
                self._batch(runnable, [requests[i] for i in idx])
                for runnable, idx in groups.values()
            )
        )
        # One batched call has no per-request timing: each answer carries its share.
        share = (time.perf_counter() - start) / len(requests)
        answers: list[LLMResponse | None] = [None] * len(requests)
        for (_, idx), results in zip(groups.values(), outputs, strict=True):
            for i, result in zip(idx, results, strict=True):
                answers[i] = self._response(requests[i], result, share)
        return [a for a in answers if a is not None]

    def _runnable(self, request: LLMRequest) -> Any:
        """The structured-output runnable for a schema request where the model has one."""
        if request.schema is None:
            return self.chat_model
        if request.schema not in self._structured:
            try:
                runnable = self.chat_model.with_structured_output(request.schema, include_raw=True)
            except NotImplementedError:
                runnable = None
            self._structured[request.schema] = runnable
        return self._structured[request.schema] or self.chat_model

    async def _batch(self, runnable: Any, requests: list[LLMRequest]) -> list[Any]:
        structured = runnable is not self.chat_model
        inputs = [
            _to_langchain(as_dicts(r.messages) if structured else request_messages(r))
            for r in requests
        ]
        config = {"max_concurrency": self.max_concurrency} if self.max_concurrency else None
        try:
            return await runnable.abatch(inputs, config=config, return_exceptions=True)
        except Exception as exc:  # a runnable that fails as a whole fails each request
            return [exc] * len(requests)

    def _response(self, request: LLMRequest, result: Any, latency: float) -> LLMResponse:
        if isinstance(result, BaseException):
            return LLMResponse(
                text="",
                prompt_tokens=prompt_tokens(request.messages),
                latency_s=latency,
                error=f"{type(result).__name__}: {result}"[:500],
            )
        parsed: BaseModel | None = None
        error: str | None = None
        if isinstance(result, dict) and "raw" in result:
            raw = result["raw"]
            parsed, text, error = _structured(request, result)
        else:
            raw = result
            text = _text(getattr(raw, "content", raw))
        n_prompt, n_completion = _usage(raw, request, text)
        if request.choices is None:
            return LLMResponse(
                text=text,
                parsed=parsed,
                prompt_tokens=n_prompt,
                completion_tokens=n_completion,
                latency_s=latency,
                error=error,
            )
        top = _first_token_top(raw)
        self.choice_logprobs = bool(top)
        probs = choice_probs(top, text, request.choices)
        return LLMResponse(
            text=most_likely(probs),
            choice_probs=probs,
            prompt_tokens=n_prompt,
            completion_tokens=n_completion,
            latency_s=latency,
        )


def _structured(
    request: LLMRequest, result: dict[str, Any]
) -> tuple[BaseModel | None, str, str | None]:
    """Parsed object, its JSON text and any error from a ``include_raw=True`` result."""
    assert request.schema is not None
    parsed = result.get("parsed")
    raw = result.get("raw")
    if parsed is not None:
        try:
            obj = request.schema.model_validate(parsed)
        except ValidationError as exc:
            return None, json.dumps(parsed, default=str), f"invalid answer: {exc}"[:300]
        return obj, obj.model_dump_json(), None
    # Keep whatever the model said, so the runtime can still parse or repair it.
    calls = getattr(raw, "tool_calls", None) or []
    text = json.dumps(calls[0].get("args", {})) if calls else _text(getattr(raw, "content", ""))
    problem = result.get("parsing_error")
    error = f"no parsed answer: {problem}"[:300] if problem else "no parsed answer"
    return None, text, error


def _to_langchain(messages: list[dict[str, str]]) -> list[Any]:
    from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [
        kinds[m["role"]](content=m["content"])
        if m["role"] in kinds
        else ChatMessage(role=m["role"], content=m["content"])
        for m in messages
    ]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p if isinstance(p, str) else p.get("text", "")
            for p in content
            if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text")
        ]
        return "".join(parts)
    return str(content)


def _usage(raw: Any, request: LLMRequest, text: str) -> tuple[int, int]:
    usage = getattr(raw, "usage_metadata", None) or {}
    n_prompt = usage.get("input_tokens") or prompt_tokens(request.messages)
    n_completion = usage.get("output_tokens") or approx_tokens(text)
    return int(n_prompt), int(n_completion)


def _first_token_top(raw: Any) -> list[tuple[str, float]] | None:
    """The first token's alternatives from ``response_metadata["logprobs"]``, if any.

    Accepts the OpenAI shape (``{"content": [token, ...]}``) and a bare token list.
    """
    metadata = getattr(raw, "response_metadata", None) or {}
    logprobs = metadata.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else logprobs
    if not content or not isinstance(content, list) or not isinstance(content[0], dict):
        return None
    first = content[0]
    top = first.get("top_logprobs") or [first]
    return [(t["token"], float(t["logprob"])) for t in top if "token" in t and "logprob" in t]


def _model_name(chat_model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__
