"""An in-process vLLM engine: the fastest way to run a world on a local GPU.

vLLM has no CPU build and pins its own torch, so it lives in its own environment (the
``vllm`` extra) and is imported only when a ``VLLMBackend`` is built. Everything that
turns a request into engine input is a pure function over plain dicts, testable without
vLLM; the vLLM classes are touched only in the last step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from simulator.llm.openai_backend import (
    TOP_LOGPROBS,
    choice_probs,
    most_likely,
    request_messages,
)
from simulator.llm.tokens import approx_tokens, prompt_tokens
from simulator.types import LLMRequest, LLMResponse

INSTALL_HINT = (
    "VLLMBackend needs vLLM, which is not installed: install the `vllm` extra "
    "(pip install 'recworld[vllm]') in its own environment on a machine with a CUDA GPU"
)


def chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The request's chat messages, shared parts first, so prefix caching can reuse them.

    The schema or the list of options is appended to the last user turn: the constraints
    force the form of the answer, but the model answers better when it can read it.
    """
    return request_messages(request)


def sampling_kwargs(request: LLMRequest, default_seed: int | None) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments for one request, as plain data.

    ``structured_outputs`` is a dict of ``StructuredOutputsParams`` fields (vLLM >= 0.12);
    ``to_sampling_params`` builds the objects. Choice requests generate one constrained
    token and keep its top log-probabilities, which under the constraint cover exactly the
    tokens that begin an option.
    """
    seed = request.seed if request.seed is not None else default_seed
    kwargs: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": seed,
    }
    if request.schema is not None:
        kwargs["structured_outputs"] = {"json": request.schema.model_json_schema()}
    elif request.choices is not None:
        kwargs.update(
            max_tokens=1,
            logprobs=TOP_LOGPROBS,
            structured_outputs={"choice": list(request.choices)},
        )
    return kwargs


def to_sampling_params(kwargs: dict[str, Any], sampling_params: Any, structured_params: Any) -> Any:
    """Turn ``sampling_kwargs`` output into a vLLM ``SamplingParams`` object.

    The classes come in as arguments so this module never imports vLLM at the top.
    """
    kwargs = dict(kwargs)
    structured = kwargs.pop("structured_outputs", None)
    if structured is not None:
        kwargs["structured_outputs"] = structured_params(**structured)
    return sampling_params(**kwargs)


def first_token_top(output: Any) -> list[tuple[str, float]] | None:
    """``(token text, logprob)`` of the first generated token's alternatives, if any."""
    logprobs = getattr(output, "logprobs", None)
    if not logprobs:
        return None
    return [
        (lp.decoded_token or "", float(lp.logprob))
        for lp in logprobs[0].values()
        if lp.decoded_token is not None
    ]


class VLLMBackend:
    """An in-process ``vllm.LLM``; each batch is one ``llm.chat`` call.

    Args:
        model: A Hugging Face model id or a local path.
        seed: Engine seed, and the seed of every request that has none of its own.
        gpu_memory_utilization: Share of GPU memory vLLM may take (weights + KV cache).
        max_model_len: Context length; ``None`` takes the model's own.
        tensor_parallel_size: GPUs to split the model over.
        enable_prefix_caching: Reuse the KV cache of shared prompt heads (system, persona).
        **engine_kwargs: Passed to ``vllm.LLM`` as they are.
    """

    name = "vllm"
    choice_logprobs = True

    def __init__(
        self,
        model: str,
        *,
        seed: int = 0,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        try:
            import vllm
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        self.model = model
        self.seed = seed
        self._sampling_params = vllm.SamplingParams
        self._structured_params = StructuredOutputsParams
        options: dict[str, Any] = {
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": tensor_parallel_size,
            "enable_prefix_caching": enable_prefix_caching,
            **engine_kwargs,
        }
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        self._llm: Any = vllm.LLM(model=model, **options)

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer the whole batch with one engine call; bad requests get ``error``."""
        if not requests:
            return []
        requests = list(requests)
        messages = [chat_messages(r) for r in requests]
        params = []
        failures: dict[int, str] = {}
        for i, request in enumerate(requests):
            try:
                params.append(
                    to_sampling_params(
                        sampling_kwargs(request, self.seed),
                        self._sampling_params,
                        self._structured_params,
                    )
                )
            except Exception as exc:
                failures[i] = _describe(exc)
                params.append(None)
        good = [i for i in range(len(requests)) if i not in failures]
        start = time.perf_counter()
        outputs = self._chat([messages[i] for i in good], [params[i] for i in good])
        # One engine call has no per-request timing: each answer carries its share.
        share = (time.perf_counter() - start) / len(requests)
        answers: list[LLMResponse] = [
            LLMResponse(text="", prompt_tokens=prompt_tokens(r.messages), error=failures.get(i))
            for i, r in enumerate(requests)
        ]
        for i, output in zip(good, outputs, strict=True):
            answers[i] = self._response(requests[i], output, share)
        return answers

    def close(self) -> None:
        """Drop the engine so its GPU memory can be freed."""
        self._llm = None

    def _chat(self, messages: list[Any], params: list[Any]) -> list[Any]:
        """``llm.chat`` over the batch; when it fails, halves find the failing requests.

        vLLM rejects a whole batch for one request it cannot take (say, a schema its
        grammar backend does not support), so a failure splits the batch until the bad
        requests stand alone and become exceptions in the result.
        """
        if not messages:
            return []
        try:
            return list(self._llm.chat(messages, sampling_params=params, use_tqdm=False))
        except Exception as exc:
            if len(messages) == 1:
                return [exc]
        half = len(messages) // 2
        return self._chat(messages[:half], params[:half]) + self._chat(
            messages[half:], params[half:]
        )

    def _response(self, request: LLMRequest, output: Any, latency: float) -> LLMResponse:
        if isinstance(output, BaseException):
            return LLMResponse(
                text="",
                prompt_tokens=prompt_tokens(request.messages),
                latency_s=latency,
                error=_describe(output),
            )
        completion = output.outputs[0]
        text = completion.text
        prompt_ids = getattr(output, "prompt_token_ids", None)
        n_prompt = len(prompt_ids) if prompt_ids else prompt_tokens(request.messages)
        token_ids = getattr(completion, "token_ids", None)
        n_completion = len(token_ids) if token_ids is not None else approx_tokens(text)
        if request.choices is None:
            return LLMResponse(
                text=text, prompt_tokens=n_prompt, completion_tokens=n_completion, latency_s=latency
            )
        probs = choice_probs(first_token_top(completion), text, request.choices)
        return LLMResponse(
            text=most_likely(probs),
            choice_probs=probs,
            prompt_tokens=n_prompt,
            completion_tokens=n_completion,
            latency_s=latency,
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
