"""A backend for any OpenAI-compatible chat server: vLLM, llama.cpp, Ollama, hosted APIs.

One ``generate`` call sends the whole batch concurrently (bounded by a semaphore), so a
server that batches internally (vLLM, llama.cpp with ``--parallel``) sees a full queue.
The ``openai`` package is imported only when a backend is built, so ``import simulator``
never needs it. The helpers at the top are pure and shared with the other backends.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from simulator.llm.messages import as_dicts, choice_instruction, normalise, schema_instruction
from simulator.llm.tokens import approx_tokens, prompt_tokens
from simulator.types import LLMRequest, LLMResponse

T = TypeVar("T")

TOP_LOGPROBS = 20
"""Alternatives asked per token; 20 is the most the OpenAI API allows."""

_NO_LOGPROB_CHOICE_TOKENS = 32
"""Answer length for choice requests on servers without log-probabilities."""


# --- helpers shared by the backends -------------------------------------------------------


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code.

    ``asyncio.run`` refuses to start inside a running loop (Jupyter, an async caller), so
    there the coroutine runs on a fresh loop in a worker thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recworld-llm") as pool:
        return pool.submit(asyncio.run, coro).result()


def request_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The request as chat dicts, with the schema or the options spelled out at the end.

    The instruction goes last so the shared head of the prompt (system, persona) stays a
    common prefix for the server's cache; it joins the final user turn rather than adding
    a second one, since some chat templates insist that roles alternate.
    """
    messages = as_dicts(request.messages)
    if request.schema is not None:
        note = schema_instruction(request)
    elif request.choices is not None:
        note = choice_instruction(request)
    else:
        return messages
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": messages[-1]["content"] + "\n\n" + note}
    else:
        messages.append({"role": "user", "content": note})
    return messages


def option_logprobs(top: Iterable[tuple[str, float]], choices: Sequence[str]) -> dict[str, float]:
    """Log-probability of each option from the first answer token's top alternatives.

    A token counts for the option it spells exactly (ignoring case and surrounding space),
    else for every option it begins, its mass split evenly among them; tokens matching the
    same option are summed, since they are different ways of starting that answer.
    """
    keys = [c.strip().casefold() for c in choices]
    mass: dict[str, list[float]] = {}
    for token, logprob in top:
        key = token.strip().casefold()
        if not key or not math.isfinite(logprob):
            continue
        targets = [c for c, k in zip(choices, keys, strict=True) if k == key]
        if not targets:
            targets = [c for c, k in zip(choices, keys, strict=True) if k.startswith(key)]
        for option in targets:
            mass.setdefault(option, []).append(logprob - math.log(len(targets)))
    return {option: _logsumexp(values) for option, values in mass.items()}


def match_option(answer: str, choices: Sequence[str]) -> str | None:
    """The option a free-text answer names, or ``None`` when it names none for sure."""
    text = answer.strip().strip("\"'`*.,:;!").strip().casefold()
    if not text:
        return None
    for option in choices:
        if option.strip().casefold() == text:
            return option
    for option in sorted(choices, key=len, reverse=True):
        key = option.strip().casefold()
        if key and text.startswith(key) and not text[len(key) : len(key) + 1].isalnum():
            return option
    begun = [c for c in choices if c.strip().casefold().startswith(text)]
    return begun[0] if len(begun) == 1 else None


def choice_probs(
    top: Iterable[tuple[str, float]] | None, answer: str, choices: Sequence[str]
) -> dict[str, float]:
    """Probabilities from log-probabilities where any match an option, else from the answer.

    Without usable log-probabilities the answered option gets probability 1, and when the
    answer names no option every option is equally likely.
    """
    if top:
        found = option_logprobs(top, choices)
        if found:
            return normalise(found, choices)
    picked = match_option(answer, choices)
    if picked is None:
        return normalise({}, choices)
    return {c: float(c == picked) for c in choices}


def most_likely(probs: dict[str, float]) -> str:
    """The option with the highest probability; the first listed wins ties."""
    return max(probs, key=probs.__getitem__)


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a pydantic JSON schema that OpenAI's ``strict`` mode accepts.

    Strict mode wants every object closed and every property required; answers to the
    stricter schema still validate against the pydantic model, defaults just get spelled
    out.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
            out["required"] = list(out["properties"])
        return out

    return walk(schema)


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


# --- the backend ----------------------------------------------------------------------------


def chat_kwargs(
    request: LLMRequest,
    *,
    model: str,
    seed: int | None,
    server: str,
    logprobs: bool,
) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for one request.

    Pure, so the request a server sees can be checked without a server. ``server`` is
    ``"vllm"`` to add vLLM's ``structured_outputs`` constraints, anything else for plain
    OpenAI fields only.
    """
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": request_messages(request),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    chosen_seed = request.seed if request.seed is not None else seed
    if chosen_seed is not None:
        kwargs["seed"] = chosen_seed
    if request.schema is not None:
        schema = strict_json_schema(request.schema.model_json_schema())
        name = re.sub(r"[^A-Za-z0-9_-]", "_", request.schema.__name__)[:64]
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
        if server == "vllm":
            kwargs["extra_body"] = {"structured_outputs": {"json": schema}}
    elif request.choices is not None:
        if logprobs:
            kwargs.update(logprobs=True, top_logprobs=TOP_LOGPROBS, max_tokens=1)
        else:
            kwargs["max_tokens"] = min(request.max_tokens, _NO_LOGPROB_CHOICE_TOKENS)
        if server == "vllm":
            kwargs["extra_body"] = {"structured_outputs": {"choice": list(request.choices)}}
    return kwargs


def api_base(url: str) -> str:
    """``http://host:8000`` becomes ``http://host:8000/v1``; a URL with a path is kept."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAIChatLLM:
    """Any OpenAI-compatible chat server, one batch per call, requests sent concurrently.

    Args:
        base_url: The server, e.g. ``http://localhost:8000/v1`` (``/v1`` is added to a
            bare host).
        model: The served model's name; ``None`` takes the first one ``/v1/models`` lists.
        api_key: Sent as the bearer token; local servers ignore it.
        concurrency: Most requests in flight at once; the server queues and batches them.
        timeout: Seconds per HTTP request before it counts as a connection error.
        max_retries: Extra attempts after a connection error, a 429 or a 5xx, with
            exponential backoff; a request that still fails comes back with ``error``.
        seed: Sent with every request that has no seed of its own.
        server: ``"vllm"`` adds vLLM's ``structured_outputs`` constraints, ``"openai"``
            sends plain OpenAI fields, ``"auto"`` asks ``/v1/models`` (``owned_by``).
        backoff: Seconds before the first retry; each further retry waits twice as long.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str = "EMPTY",
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 3,
        seed: int | None = None,
        server: Literal["auto", "vllm", "openai"] = "auto",
        backoff: float = 0.5,
    ) -> None:
        try:
            import openai  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "OpenAIChatLLM needs the `openai` package: pip install 'recworld[openai]'"
            ) from exc
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if server not in ("auto", "vllm", "openai"):
            raise ValueError(f"server must be 'auto', 'vllm' or 'openai', got {server!r}")
        self.base_url = api_base(base_url)
        self.model = model or ""
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.seed = seed
        self.server = server
        self.backoff = backoff
        self.choice_logprobs = True
        """False once the server answered a choice request without log-probabilities."""

    def health(self) -> str | None:
        """``None`` when the server lists its models within ``min(timeout, 10)`` seconds,
        else what went wrong, in one line (a bad URL, a closed port, no model served)."""
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            return f"{self.base_url!r} is not an http(s) URL; give one like http://host:8000"
        return run_sync(self._health())

    async def _health(self) -> str | None:
        from openai import AsyncOpenAI

        timeout = min(self.timeout, 10.0)
        try:
            async with AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=timeout, max_retries=0
            ) as client:
                models = [m.id async for m in client.models.list()]
        except Exception as exc:
            return f"the server at {self.base_url} does not answer ({_describe(exc)[:200]})"
        if not models:
            return f"the server at {self.base_url} serves no model"
        return None

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer the batch in order; failures come back as responses with ``error``."""
        if not requests:
            return []
        return run_sync(self._generate(list(requests)))

    async def _generate(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        from openai import AsyncOpenAI

        # A client per batch: its connection pool belongs to this batch's event loop.
        async with AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=0
        ) as client:
            try:
                await self._resolve(client)
            except Exception as exc:
                error = f"cannot list the models at {self.base_url}: {_describe(exc)}"
                return [LLMResponse(text="", error=error) for _ in requests]
            limit = asyncio.Semaphore(self.concurrency)
            return list(await asyncio.gather(*(self._one(client, limit, r) for r in requests)))

    async def _resolve(self, client: Any) -> None:
        """Ask ``/v1/models`` for the model name and server kind when they are not given."""
        if self.model and self.server != "auto":
            return
        try:
            models = [m async for m in client.models.list()]
        except Exception:
            if not self.model:
                raise
            return  # kind stays "auto" (plain OpenAI fields) and is asked again next batch
        if not self.model:
            if not models:
                raise RuntimeError("the server serves no model")
            self.model = models[0].id
        if self.server == "auto":
            served = [m for m in models if m.id == self.model] or models
            vllm = any(getattr(m, "owned_by", None) == "vllm" for m in served)
            self.server = "vllm" if vllm else "openai"

    async def _one(self, client: Any, limit: asyncio.Semaphore, request: LLMRequest) -> LLMResponse:
        async with limit:
            start = time.perf_counter()
            try:
                answer = await self._ask(client, request)
            except Exception as exc:  # one bad request must not sink the batch
                answer = LLMResponse(text="", error=_describe(exc))
            return _with_latency(answer, time.perf_counter() - start)

    async def _ask(self, client: Any, request: LLMRequest) -> LLMResponse:
        from openai import BadRequestError

        logprobs = request.choices is not None and self.choice_logprobs
        kwargs = chat_kwargs(
            request, model=self.model, seed=self.seed, server=self.server, logprobs=logprobs
        )
        try:
            completion = await self._create(client, kwargs)
        except BadRequestError:
            if not logprobs:
                raise
            # Some servers reject log-probabilities outright: ask again without them.
            kwargs = chat_kwargs(
                request, model=self.model, seed=self.seed, server=self.server, logprobs=False
            )
            completion = await self._create(client, kwargs)
            self.choice_logprobs = logprobs = False
        return self._response(request, completion, asked_logprobs=logprobs)

    async def _create(self, client: Any, kwargs: dict[str, Any]) -> Any:
        """One completion, retried by tenacity on connection errors, timeouts, 408, 409,
        429 and 5xx: at most ``max_retries`` more times, waiting ``backoff`` seconds, then
        twice as long each time (at most 30 s), plus up to ``backoff`` of random jitter so
        that a batch's requests do not retry in step."""
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential,
            wait_random,
        )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=30.0) + wait_random(0, self.backoff),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await client.chat.completions.create(**kwargs)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _response(
        self, request: LLMRequest, completion: Any, *, asked_logprobs: bool
    ) -> LLMResponse:
        if not completion.choices:
            return LLMResponse(text="", error="the server returned no choices")
        choice = completion.choices[0]
        message = choice.message
        text = message.content or ""
        usage = completion.usage
        n_prompt = usage.prompt_tokens if usage else prompt_tokens(request.messages)
        n_completion = usage.completion_tokens if usage else approx_tokens(text)
        refusal = getattr(message, "refusal", None)
        if refusal:
            return LLMResponse(
                text=text,
                prompt_tokens=n_prompt,
                completion_tokens=n_completion,
                error=f"the model refused: {refusal}"[:300],
            )
        if request.choices is None:
            return LLMResponse(text=text, prompt_tokens=n_prompt, completion_tokens=n_completion)
        top = _first_token_top(choice)
        if asked_logprobs and top is None:
            self.choice_logprobs = False
        probs = choice_probs(top, text, request.choices)
        return LLMResponse(
            text=most_likely(probs),
            choice_probs=probs,
            prompt_tokens=n_prompt,
            completion_tokens=n_completion,
        )


def _first_token_top(choice: Any) -> list[tuple[str, float]] | None:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    first = content[0]
    top = [(t.token, t.logprob) for t in (first.top_logprobs or [])]
    return top or [(first.token, first.logprob)]


def _retryable(exc: Exception) -> bool:
    from openai import APIConnectionError, APIStatusError

    if isinstance(exc, APIConnectionError):  # includes timeouts
        return True
    return isinstance(exc, APIStatusError) and (
        exc.status_code in (408, 409, 429) or exc.status_code >= 500
    )


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _with_latency(answer: LLMResponse, seconds: float) -> LLMResponse:
    return replace(answer, latency_s=seconds)
