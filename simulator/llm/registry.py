"""Build a backend from a scenario's ``llm`` section or ``--llm BACKEND[:MODEL]``.

Every backend but ``scripted`` imports its heavy dependencies only when it is built.
"""

from __future__ import annotations

import os
from typing import Any

from simulator.errors import ScenarioError, first_line
from simulator.imports import import_class
from simulator.llm.runtime import LLMRuntime
from simulator.llm.scripted import ScriptedLLM
from simulator.progress import ProgressHook
from simulator.types import LLM

BACKENDS = ("scripted", "smollm2", "transformers", "tuned", "openai", "vllm", "langchain")
CHOICE_BACKENDS = ("smollm2", "transformers", "tuned", "vllm")
"""Backends whose choice probabilities come from the model's own log-probabilities."""


def make_llm(
    backend: str,
    *,
    model: str | None = None,
    seed: int = 0,
    progress: ProgressHook | None = None,
    **options: Any,
) -> LLM:
    """Create the named backend; unknown names get an error listing the known ones.

    ``progress`` hears of slow one-off work (converting SmolLM2 the first time).
    """
    if backend == "scripted":
        return ScriptedLLM(seed=seed, model=model or "scripted-v1")
    if backend == "smollm2":
        from simulator.llm.smollm2 import smollm2_path
        from simulator.llm.transformers_backend import TransformersLLM

        return TransformersLLM(
            str(smollm2_path(progress=progress)),
            model="SmolLM2-135M-Instruct",
            seed=seed,
            **options,
        )
    if backend == "transformers":
        if not model:
            raise ScenarioError("llm.model: the transformers backend needs a model folder path")
        from simulator.llm.transformers_backend import TransformersLLM

        local = os.path.expanduser(model)  # transformers reads "~/m" as a hub id
        if model.startswith(("/", ".", "~")) and not os.path.isdir(local):
            raise ScenarioError(f"llm.model: no model folder at {model}")
        try:
            return TransformersLLM(local, seed=seed, **options)
        except (OSError, ValueError) as exc:  # transformers' "not found" and "not a model"
            raise ScenarioError(
                f"llm.model: {model!r} cannot be loaded as a Hugging Face model "
                f"({first_line(exc)}); "
                "give a folder with its config.json, weights and tokenizer files, or a model "
                "id already in the local cache"
            ) from None
    if backend == "tuned":
        if not model:
            raise ScenarioError(
                "llm.model: the tuned backend needs the folder `recworld tune` wrote"
            )
        from simulator.llm.tuned import load_tuned

        return load_tuned(model, seed=seed, **options)
    if backend == "openai":
        if not model:
            raise ScenarioError(
                "llm.model: the openai backend takes BASE_URL[#MODEL], e.g. "
                "http://127.0.0.1:8000/v1#Qwen/Qwen2.5-7B-Instruct (no MODEL: the server's first)"
            )
        from simulator.llm.openai_backend import OpenAIChatLLM

        base_url, _, name = model.partition("#")
        options.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "EMPTY"))
        return OpenAIChatLLM(base_url, name or None, seed=seed, **options)
    if backend == "vllm":
        if not model:
            raise ScenarioError("llm.model: the vllm backend needs a model name or path")
        from simulator.llm.vllm_backend import VLLMBackend

        return VLLMBackend(model, seed=seed, **options)
    if backend == "langchain":
        return _langchain(model, options)
    raise ScenarioError(
        f"llm.backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
    )


def _langchain(model: str | None, options: dict[str, Any]) -> LLM:
    """``llm: {backend: langchain, options: {class: pkg.ChatModel, params: {...}}}``."""
    from langchain_core.language_models import BaseChatModel

    from simulator.llm.langchain_backend import LangChainLLM

    path = options.get("class")
    if not path or "." not in path:
        raise ScenarioError(
            "llm.options.class: the langchain backend needs the chat model's import path, "
            "e.g. langchain_openai.ChatOpenAI"
        )
    cls = import_class(path, "llm.options.class")
    if not issubclass(cls, BaseChatModel):
        raise ScenarioError(
            f"llm.options.class: {path} is not a LangChain chat model (a BaseChatModel)"
        )
    return LangChainLLM(cls(**options.get("params", {})), model=model)


def load_runtime(backend: str, model: str) -> LLMRuntime:
    """A backend behind its own runtime: what ``RecommenderContext.load_llm`` gives a
    recommender that ranks with a model of its own (``tuned-llm``)."""
    return LLMRuntime(make_llm(backend, model=model))


def parse_llm_spec(spec: str) -> tuple[str, str | None]:
    """Split ``--llm BACKEND[:MODEL]`` into backend and model."""
    backend, _, model = spec.partition(":")
    return backend, (model or None)
