"""LLM backends behind one batch-first protocol, plus the runtime that validates and counts."""

from simulator.llm.registry import make_llm
from simulator.llm.runtime import LLMRuntime, LLMStats
from simulator.llm.scripted import ScriptedLLM

__all__ = ["LLMRuntime", "LLMStats", "ScriptedLLM", "make_llm"]
