import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from agents.actions.browse import page_schema
from simulator.llm import LLMRuntime, ScriptedLLM
from simulator.llm.runtime import parse_json
from simulator.testing import LLMBackendContract
from simulator.types import LLM, ChatMessage, LLMRequest, LLMResponse


def req(text: str, **kw) -> LLMRequest:
    return LLMRequest(messages=(ChatMessage("user", text),), **kw)


class Rating(BaseModel):
    stars: int = Field(ge=1, le=5)
    why: str = Field(max_length=40)
    tags: list[str] = Field(max_length=3)


def test_scripted_meets_protocol():
    assert isinstance(ScriptedLLM(), LLM)


def test_request_rejects_schema_and_choices_together():
    with pytest.raises(ValueError, match="not both"):
        req("x", schema=Rating, choices=("a", "b"))


@given(st.text(max_size=50), st.integers(0, 10_000), st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_scripted_answers_validate_for_any_prompt(text, seed, page):
    llm = ScriptedLLM(seed=seed)
    for schema in (Rating, page_schema(page)):
        (answer,) = llm.generate([req(text, schema=schema)])
        schema.model_validate_json(answer.text)


def test_scripted_is_deterministic_and_order_free():
    a = [req(f"prompt {i}", schema=Rating) for i in range(5)]
    first = [r.text for r in ScriptedLLM(seed=1).generate(a)]
    again = [r.text for r in ScriptedLLM(seed=1).generate(a[::-1])][::-1]
    other = [r.text for r in ScriptedLLM(seed=2).generate(a)]
    assert first == again
    assert first != other


def test_choice_probabilities_sum_to_one():
    (answer,) = ScriptedLLM().generate([req("rate it", choices=("1", "2", "3", "4", "5"))])
    assert set(answer.choice_probs) == {"1", "2", "3", "4", "5"}
    assert sum(answer.choice_probs.values()) == pytest.approx(1.0)


class FlakyLLM:
    """Answers garbage first, then valid JSON on the repair round."""

    name, model = "flaky", "f1"

    def __init__(self, fix: bool):
        self.fix = fix
        self.batches: list[int] = []

    def generate(self, requests):
        self.batches.append(len(requests))
        out = []
        for r in requests:
            repairing = r.tag.endswith(":repair")
            good = json.dumps({"stars": 4, "why": "ok", "tags": []})
            text = (
                good if (repairing and self.fix) or "good" in r.messages[0].content else "no idea"
            )
            out.append(
                LLMResponse(
                    text=f"Sure! ```json\n{text}\n```", prompt_tokens=3, completion_tokens=2
                )
            )
        return out


def test_runtime_repairs_in_one_batch_and_counts():
    backend = FlakyLLM(fix=True)
    rt = LLMRuntime(backend)
    out = rt.generate(
        [req("good", schema=Rating), req("bad", schema=Rating), req("bad", schema=Rating)]
    )
    assert [o.parsed.stars for o in out] == [4, 4, 4]
    assert backend.batches == [3, 2]
    assert rt.stats.repairs == 2 and rt.stats.failures == 0
    assert rt.stats.batches == 2 and rt.stats.calls == 5
    assert rt.stats.prompt_tokens == 15


def test_runtime_counts_unrepairable_answers_as_failures():
    rt = LLMRuntime(FlakyLLM(fix=False))
    out = rt.generate([req("bad", schema=Rating)])
    assert out[0].parsed is None and "invalid Rating" in out[0].error
    assert rt.stats.failures == 1


def test_runtime_rejects_a_backend_that_drops_answers():
    class Dropper(FlakyLLM):
        def generate(self, requests):
            return super().generate(requests)[:-1]

    with pytest.raises(RuntimeError, match="must answer every request"):
        LLMRuntime(Dropper(True)).generate([req("good", schema=Rating)] * 2)


def test_stats_per_step_are_differences():
    rt = LLMRuntime(ScriptedLLM())
    rt.generate([req("a", schema=Rating)] * 3)
    first = rt.stats.close_step(1)
    rt.generate([req("b", schema=Rating)] * 2)
    second = rt.stats.close_step(2)
    assert (first["calls"], second["calls"]) == (3, 2)
    assert rt.stats.to_json()["totals"]["calls"] == 5


@given(
    st.dictionaries(st.sampled_from(["stars", "why", "tags", "x"]), st.integers(0, 9)),
    st.text(max_size=20),
)
def test_parse_json_never_raises_anything_but_value_errors(obj, chatter):
    text = chatter + json.dumps(obj)
    with contextlib.suppress(ValueError):
        parse_json(text, Rating)


class TestScriptedContract(LLMBackendContract):
    exact_choices = True

    def make(self):
        return ScriptedLLM(seed=3)
