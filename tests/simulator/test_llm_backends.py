"""The network and GPU backends, tested offline.

The OpenAI backend talks to a small OpenAI-compatible server on 127.0.0.1 that answers
from ``ScriptedLLM``; the LangChain backend wraps a fake chat model; the vLLM backend is
tested through its pure request-building functions and a stand-in ``vllm`` module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import subprocess
import sys
import threading
import time
import types
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, Field

from simulator.llm.openai_backend import (
    OpenAIChatLLM,
    api_base,
    chat_kwargs,
    choice_probs,
    match_option,
    option_logprobs,
    strict_json_schema,
)
from simulator.llm.runtime import LLMRuntime
from simulator.llm.scripted import ScriptedLLM, sample_json
from simulator.llm.tokens import approx_tokens, prompt_tokens
from simulator.testing import LLMBackendContract
from simulator.types import ChatMessage, LLMRequest

pytest.importorskip("openai")

MODEL = "test-model"
_CHOICE_LINE = re.compile(r"Answer with exactly one of: (.*)\.\s*$")


class Verdict(BaseModel):
    liked: bool
    stars: int = Field(ge=1, le=5)


SYSTEM = ChatMessage("system", "You rate films.")


def req(text: str, **kw: Any) -> LLMRequest:
    return LLMRequest(messages=(SYSTEM, ChatMessage("user", text)), **kw)


def scripted_answer(messages: tuple[ChatMessage, ...], body: dict[str, Any]) -> dict[str, Any]:
    """What the fake servers and models say: ScriptedLLM, read from the request."""
    seed = body.get("seed")
    choices = _choices_in(messages[-1].content) if messages else None
    schema = body.get("schema")
    if schema is not None:
        digest = hashlib.blake2b(json.dumps([m.content for m in messages]).encode(), digest_size=8)
        rng = np.random.default_rng(int.from_bytes(digest.digest(), "little"))
        text = json.dumps(sample_json(schema, schema.get("$defs", {}), rng))
        return {"text": text, "probs": None}
    if choices:
        (answer,) = ScriptedLLM().generate(
            [LLMRequest(messages=messages, choices=choices, seed=seed)]
        )
        return {"text": answer.text, "probs": answer.choice_probs}
    (answer,) = ScriptedLLM().generate([LLMRequest(messages=messages, seed=seed)])
    return {"text": answer.text, "probs": None}


def _choices_in(text: str) -> tuple[str, ...] | None:
    found = _CHOICE_LINE.search(text)
    return tuple(found.group(1).split(", ")) if found else None


# --- a fake OpenAI-compatible server -------------------------------------------------------


class FakeOpenAIServer:
    """``/v1/models`` and ``/v1/chat/completions`` on a free port, answering from ScriptedLLM."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, {"error": {"message": "not found"}})
                model = {"id": MODEL, "object": "model", "created": 0, "owned_by": state.owned_by}
                self._send(200, {"object": "list", "data": [model]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    generation = state.generation
                    state.bodies.append(body)
                    state.active += 1
                    state.peak = max(state.peak, state.active)
                    fail = state.fail_always or state.fail_next > 0
                    state.fail_next -= 1 if state.fail_next > 0 else 0
                try:
                    time.sleep(state.delay)
                    if fail:
                        return self._send(state.fail_status, {"error": {"message": "boom"}})
                    if body.get("logprobs") and state.reject_logprobs:
                        return self._send(400, {"error": {"message": "logprobs unsupported"}})
                    self._send(200, state.completion(body))
                finally:
                    with state.lock:
                        if state.generation == generation:  # not a straggler of a past test
                            state.active -= 1

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, **settings: Any) -> None:
        self.owned_by = settings.pop("owned_by", "test")
        self.logprobs = settings.pop("logprobs", True)
        self.reject_logprobs = settings.pop("reject_logprobs", False)
        self.fail_next = settings.pop("fail_next", 0)
        self.fail_always = settings.pop("fail_always", False)
        self.fail_status = settings.pop("fail_status", 500)
        self.delay = settings.pop("delay", 0.0)
        assert not settings, settings
        self.generation = getattr(self, "generation", 0) + 1
        self.bodies: list[dict[str, Any]] = []
        self.active = 0
        self.peak = 0

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = tuple(ChatMessage(m["role"], m["content"]) for m in body["messages"])
        format_ = body.get("response_format") or {}
        schema = format_.get("json_schema", {}).get("schema")
        answer = scripted_answer(messages, {"seed": body.get("seed"), "schema": schema})
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer["text"]},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if body.get("logprobs") and self.logprobs and answer["probs"]:
            top = sorted(answer["probs"].items(), key=lambda kv: -kv[1])[: body["top_logprobs"]]
            alternatives = [
                {"token": " " + c, "logprob": math.log(p), "bytes": None} for c, p in top
            ]
            choice["logprobs"] = {"content": [{**alternatives[0], "top_logprobs": alternatives}]}
        n_prompt = prompt_tokens(messages)
        n_completion = approx_tokens(answer["text"])
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [choice],
            "usage": {
                "prompt_tokens": n_prompt,
                "completion_tokens": n_completion,
                "total_tokens": n_prompt + n_completion,
            },
        }


@pytest.fixture(scope="module")
def server():
    fake = FakeOpenAIServer()
    yield fake
    fake.stop()


@pytest.fixture
def fresh(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.reset()
    return server


# -- a server that dies: the run stops within the step, exit 3 --------------------------


def _world_on(server: FakeOpenAIServer, run_dir, steps: int = 4):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world

    config = load_scenario(
        "quickstart",
        steps=steps,
        **{
            "population.size": 8,
            "memory.backend": "in-memory",
            "llm.backend": "openai",
            "llm.model": f"{server.url}#{MODEL}",
            # A failing server answers 500 at once; the generous timeout only keeps a
            # loaded CI machine from turning a slow answer into a failed decision, which
            # would make a full run and its resumed twin differ.
            "llm.options": {"max_retries": 0, "timeout": 60.0},
        },
    )
    return open_world(config, run_dir=run_dir, seed=0)


def test_a_server_that_dies_mid_run_stops_it_within_the_step(fresh, tmp_path):
    from simulator.errors import ServerError
    from simulator.runlog import read_interactions

    with _world_on(fresh, tmp_path / "run") as world:
        world.step()
        world.step()
        fresh.reset(fail_always=True)
        with pytest.raises(ServerError, match="batches in a row failed") as stopped:
            world.step()
    assert stopped.value.exit_code == 3
    assert sorted(p.name for p in (tmp_path / "run" / "interactions.parquet").iterdir()) == [
        "step-000001.parquet",
        "step-000002.parquet",
    ]
    assert set(read_interactions(tmp_path / "run")["step"]) == {1, 2}
    assert len(pd.read_parquet(tmp_path / "run" / "metrics.parquet")) == 2


def test_once_the_server_is_back_resume_finishes_the_run_identically(fresh, tmp_path):
    from simulator.compose import resume_world
    from simulator.errors import ServerError

    with _world_on(fresh, tmp_path / "full") as world:
        world.run()
    with _world_on(fresh, tmp_path / "run") as world:
        world.step()
        fresh.reset(fail_always=True)
        with pytest.raises(ServerError):
            world.step()
    fresh.reset()
    with resume_world(tmp_path / "run") as world:
        assert world.steps == 1
        world.run()
    for name in ("interactions.parquet", "events.parquet", "users.parquet"):
        full = sorted((tmp_path / "full" / name).iterdir())
        resumed = sorted((tmp_path / "run" / name).iterdir())
        assert [p.name for p in full] == [p.name for p in resumed]
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(full, resumed, strict=True))


def test_an_unreachable_server_is_exit_3_before_step_1(fresh, tmp_path):
    from typer.testing import CliRunner

    from simulator.cli import app

    fresh.reset()
    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    result = CliRunner().invoke(
        app, ["run", "quickstart", "--llm", f"openai:{dead}", "--out", str(tmp_path / "r")]
    )
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert result.exit_code == 3 and len(lines) == 1 and "does not answer" in lines[0]
    assert not (tmp_path / "r").exists()


def openai_llm(fake: FakeOpenAIServer, **kw: Any) -> OpenAIChatLLM:
    kw.setdefault("backoff", 0.01)
    return OpenAIChatLLM(fake.url, kw.pop("model", MODEL), **kw)


class TestOpenAIContract(LLMBackendContract):
    exact_choices = True

    @pytest.fixture(autouse=True)
    def _server(self, fresh: FakeOpenAIServer) -> None:
        self.server = fresh

    def make(self) -> OpenAIChatLLM:
        return openai_llm(self.server, seed=7)


def test_openai_choice_probs_come_from_logprobs(fresh):
    request = req("Rate Heat.", choices=("1", "2", "3", "4", "5"))
    llm = openai_llm(fresh)
    (answer,) = llm.generate([request])
    body = fresh.bodies[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert "Answer with exactly one of: 1, 2, 3, 4, 5." in body["messages"][-1]["content"]
    sent = (SYSTEM, ChatMessage("user", body["messages"][-1]["content"]))
    (expected,) = ScriptedLLM().generate([LLMRequest(messages=sent, choices=request.choices)])
    assert answer.choice_probs == pytest.approx(expected.choice_probs)
    assert answer.text == expected.text
    assert llm.choice_logprobs


def test_openai_without_logprobs_falls_back_to_the_answer(fresh):
    fresh.reset(logprobs=False)
    llm = openai_llm(fresh)
    (answer,) = llm.generate([req("Rate Heat.", choices=("1", "2", "3", "4", "5"))])
    assert llm.choice_logprobs is False
    assert answer.choice_probs[answer.text] == 1.0
    assert sum(answer.choice_probs.values()) == pytest.approx(1.0)
    llm.generate([req("Rate Alien.", choices=("1", "2", "3", "4", "5"))])
    assert "logprobs" not in fresh.bodies[-1]


def test_openai_server_rejecting_logprobs_is_asked_again_without(fresh):
    fresh.reset(reject_logprobs=True)
    llm = openai_llm(fresh)
    (answer,) = llm.generate([req("Rate Heat.", choices=("yes", "no"))])
    assert answer.ok and answer.choice_probs[answer.text] == 1.0
    assert llm.choice_logprobs is False
    assert [("logprobs" in b) for b in fresh.bodies] == [True, False]


def test_openai_sends_schema_seed_and_temperature(fresh):
    llm = openai_llm(fresh, seed=11)
    llm.generate([req("Liked Alien?", schema=Verdict, temperature=0.7), req("Hi", seed=3)])
    schema_body, text_body = sorted(fresh.bodies, key=lambda b: "response_format" in b)[::-1]
    fmt = schema_body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert schema_body["seed"] == 11 and schema_body["temperature"] == 0.7
    assert text_body["seed"] == 3
    assert "structured_outputs" not in schema_body  # the server is not vLLM


def test_openai_structured_answers_validate(fresh):
    runtime = LLMRuntime(openai_llm(fresh))
    answers = runtime.generate([req(f"Liked film {i}?", schema=Verdict) for i in range(6)])
    assert all(isinstance(a.parsed, Verdict) for a in answers)
    assert runtime.stats.prompt_tokens > 0 and runtime.stats.repairs == 0


@pytest.mark.parametrize("how", ["explicit", "detected"])
def test_openai_vllm_server_gets_structured_outputs(fresh, how):
    if how == "detected":
        fresh.reset(owned_by="vllm")
        llm = openai_llm(fresh)
    else:
        llm = openai_llm(fresh, server="vllm")
    llm.generate([req("Liked Alien?", schema=Verdict), req("Rate.", choices=("a", "b"))])
    assert llm.server == "vllm"
    by_kind = {"json" if "response_format" in b else "choice": b for b in fresh.bodies}
    json_schema = by_kind["json"]["response_format"]["json_schema"]["schema"]
    assert by_kind["json"]["structured_outputs"] == {"json": json_schema}
    assert by_kind["choice"]["structured_outputs"] == {"choice": ["a", "b"]}


def test_openai_auto_detects_a_plain_server_and_the_model(fresh):
    llm = OpenAIChatLLM(fresh.url, None)
    (answer,) = llm.generate([req("Hi")])
    assert answer.ok and llm.model == MODEL and llm.server == "openai"


def test_openai_concurrency_is_bounded(fresh):
    fresh.reset(delay=0.05)
    answers = openai_llm(fresh, concurrency=3).generate([req(f"Hi {i}") for i in range(10)])
    assert all(a.ok for a in answers)
    assert 2 <= fresh.peak <= 3


def test_openai_answers_keep_batch_order(fresh):
    requests = [req(f"Hi {i}", seed=i) for i in range(8)]
    answers = openai_llm(fresh, concurrency=4).generate(requests)
    assert [a.text for a in answers] == [a.text for a in ScriptedLLM().generate(requests)]
    assert all(a.latency_s > 0 and a.completion_tokens > 0 for a in answers)


def test_openai_retries_a_server_error(fresh):
    fresh.reset(fail_next=2)
    (answer,) = openai_llm(fresh, max_retries=3).generate([req("Hi")])
    assert answer.ok and answer.text
    assert len(fresh.bodies) == 3


def test_openai_request_that_keeps_failing_becomes_an_error(fresh):
    fresh.reset(fail_always=True, fail_status=503)
    answers = openai_llm(fresh, max_retries=2).generate([req("Hi"), req("Yo")])
    assert all(a.error and "InternalServerError" in a.error for a in answers)
    assert len(fresh.bodies) == 6


def test_openai_client_error_is_not_retried(fresh):
    fresh.reset(fail_always=True, fail_status=400)
    (answer,) = openai_llm(fresh).generate([req("Hi")])
    assert answer.error and "BadRequestError" in answer.error
    assert len(fresh.bodies) == 1


def test_openai_timeout_becomes_an_error(fresh):
    fresh.reset(delay=0.5)
    (answer,) = openai_llm(fresh, timeout=0.1, max_retries=1).generate([req("Hi")])
    assert answer.error and "Timeout" in answer.error


def test_openai_unreachable_server_is_an_error_not_an_exception():
    llm = OpenAIChatLLM("http://127.0.0.1:9", MODEL, max_retries=0, timeout=1.0)
    (answer,) = llm.generate([req("Hi")])
    assert answer.error


def test_openai_works_inside_a_running_event_loop(fresh):
    async def main() -> list[Any]:
        return openai_llm(fresh).generate([req("Hi")])

    (answer,) = asyncio.run(main())
    assert answer.ok


def test_openai_pure_helpers():
    assert api_base("http://h:8000") == "http://h:8000/v1"
    assert api_base("https://openrouter.ai/api/v1/") == "https://openrouter.ai/api/v1"
    kwargs = chat_kwargs(
        req("Rate.", choices=("a", "b")), model="m", seed=None, server="openai", logprobs=False
    )
    assert "seed" not in kwargs and "logprobs" not in kwargs and kwargs["max_tokens"] <= 32
    nested = strict_json_schema({"type": "object", "properties": {"x": {"type": "object"}}})
    assert nested["additionalProperties"] is False and nested["required"] == ["x"]


def test_choice_matching():
    lp = option_logprobs(
        [(" Watch", -0.1), ("wat", -2.0), ("sk", -3.0), ("\n", -1.0)], ["watch", "skip"]
    )
    assert set(lp) == {"watch", "skip"} and lp["watch"] > math.log(math.exp(-0.1))
    assert option_logprobs([("w", -0.5)], ["wait", "watch"]) == pytest.approx(
        {"wait": -0.5 - math.log(2), "watch": -0.5 - math.log(2)}
    )
    assert match_option(' "10". ', ["1", "10"]) == "10"
    assert match_option("4 stars", ["1", "4", "5"]) == "4"
    assert match_option("maybe", ["yes", "no"]) is None
    assert choice_probs(None, "nothing", ["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert choice_probs([("zz", -1.0)], "b", ["a", "b"]) == {"a": 0.0, "b": 1.0}


# --- LangChain -----------------------------------------------------------------------------

langchain_core = pytest.importorskip("langchain_core")

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from simulator.llm.langchain_backend import LangChainLLM  # noqa: E402

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class ScriptedChatModel(BaseChatModel):
    """A LangChain chat model answering from ScriptedLLM, with tools, logprobs and usage."""

    logprobs: bool = True

    @property
    def _llm_type(self) -> str:
        return "scripted-test"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=list(tools), **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        tools: list[type[BaseModel]] | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        ours = tuple(ChatMessage(_ROLES.get(m.type, m.type), str(m.content)) for m in messages)
        if tools:
            schema = tools[0]
            body = {"schema": schema.model_json_schema()}
            args = json.loads(scripted_answer(ours, body)["text"])
            call = {"name": schema.__name__, "args": args, "id": "call_0", "type": "tool_call"}
            message = AIMessage(content="", tool_calls=[call])
        else:
            answer = scripted_answer(ours, {})
            metadata: dict[str, Any] = {}
            if answer["probs"] and self.logprobs:
                top = [{"token": c, "logprob": math.log(p)} for c, p in answer["probs"].items()]
                metadata["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
            message = AIMessage(content=answer["text"], response_metadata=metadata)
        n_prompt = prompt_tokens(ours)
        message.usage_metadata = {
            "input_tokens": n_prompt,
            "output_tokens": 3,
            "total_tokens": n_prompt + 3,
        }
        return ChatResult(generations=[ChatGeneration(message=message)])


class TestLangChainContract(LLMBackendContract):
    exact_choices = True

    def make(self) -> LangChainLLM:
        return LangChainLLM(ScriptedChatModel(), model="scripted-chat")


def test_langchain_structured_output_is_parsed():
    llm = LangChainLLM(ScriptedChatModel(), max_concurrency=2)
    answers = llm.generate([req(f"Liked film {i}?", schema=Verdict) for i in range(4)])
    assert all(isinstance(a.parsed, Verdict) and a.ok for a in answers)
    assert [Verdict.model_validate_json(a.text) for a in answers] == [a.parsed for a in answers]
    assert all(a.completion_tokens == 3 for a in answers)
    assert llm.model == "ScriptedChatModel"


def test_langchain_choice_probs_come_from_logprobs():
    request = req("Rate Heat.", choices=("1", "2", "3", "4", "5"))
    with_logprobs, without = (
        LangChainLLM(ScriptedChatModel()),
        LangChainLLM(ScriptedChatModel(logprobs=False)),
    )
    (answer,) = with_logprobs.generate([request])
    (plain,) = without.generate([request])
    assert with_logprobs.choice_logprobs and not without.choice_logprobs
    assert len({round(p, 9) for p in answer.choice_probs.values()}) == 5
    assert plain.choice_probs[plain.text] == 1.0 and plain.text == answer.text


def test_langchain_model_without_tools_gets_the_schema_in_the_prompt():
    fake = GenericFakeChatModel(messages=iter(['{"liked": true, "stars": 4}', "4", "hello"]))
    llm = LangChainLLM(fake, model="fake")
    runtime = LLMRuntime(llm)
    (verdict,) = runtime.generate([req("Liked Alien?", schema=Verdict)])
    assert verdict.parsed == Verdict(liked=True, stars=4)
    (rating,) = llm.generate([req("Rate.", choices=("1", "2", "3", "4", "5"))])
    assert rating.text == "4" and rating.choice_probs["4"] == 1.0
    (text,) = llm.generate([req("Hi")])
    assert text.text == "hello" and text.prompt_tokens > 0


def test_langchain_failure_becomes_an_error():
    fake = GenericFakeChatModel(messages=iter([]))  # raises StopIteration-derived errors
    (answer,) = LangChainLLM(fake, model="fake").generate([req("Hi")])
    assert answer.error


# --- vLLM ----------------------------------------------------------------------------------

from simulator.llm.vllm_backend import (  # noqa: E402
    VLLMBackend,
    chat_messages,
    sampling_kwargs,
    to_sampling_params,
)


def test_vllm_sampling_kwargs_for_schema_requests():
    kwargs = sampling_kwargs(req("Liked?", schema=Verdict, max_tokens=40, temperature=0.3), 5)
    assert kwargs == {
        "max_tokens": 40,
        "temperature": 0.3,
        "seed": 5,
        "structured_outputs": {"json": Verdict.model_json_schema()},
    }


def test_vllm_sampling_kwargs_for_choices_and_text():
    kwargs = sampling_kwargs(req("Rate.", choices=("1", "2"), seed=9), 5)
    assert kwargs["structured_outputs"] == {"choice": ["1", "2"]}
    assert kwargs["logprobs"] == 20 and kwargs["max_tokens"] == 1 and kwargs["seed"] == 9
    text = sampling_kwargs(req("Hi", max_tokens=8), None)
    assert text == {"max_tokens": 8, "temperature": 0.0, "seed": None}
    assert not any(k.startswith("guided") for k in {**kwargs, **text})


def test_vllm_chat_messages_keep_shared_parts_first():
    persona = ChatMessage("system", "You are Ann, 34, likes noir.")
    request = LLMRequest(
        messages=(SYSTEM, persona, ChatMessage("user", "Rate Heat.")), choices=("1", "2")
    )
    messages = chat_messages(request)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == "You rate films.\n\nYou are Ann, 34, likes noir."
    assert messages[1]["content"].startswith("Rate Heat.")
    assert messages[1]["content"].endswith("Answer with exactly one of: 1, 2.")
    schema_msgs = chat_messages(req("Liked?", schema=Verdict))
    assert '"stars"' in schema_msgs[-1]["content"]


def test_vllm_to_sampling_params_builds_the_objects():
    @dataclass
    class Structured:
        choice: list[str] | None = None
        json: dict | None = None

    built = to_sampling_params(
        sampling_kwargs(req("Rate.", choices=("a", "b")), 0), dict, Structured
    )
    assert built["structured_outputs"] == Structured(choice=["a", "b"])
    assert built["logprobs"] == 20


def test_vllm_backend_without_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="vllm` extra"):
        VLLMBackend("some/model")


@dataclass
class _Logprob:
    logprob: float
    rank: int
    decoded_token: str


class _FakeEngine:
    """Stands in for ``vllm.LLM``: answers like ScriptedLLM, rejects prompts with POISON."""

    instances: ClassVar[list[_FakeEngine]] = []

    def __init__(self, model: str, **options: Any) -> None:
        self.model = model
        self.options = options
        self.calls = 0
        _FakeEngine.instances.append(self)

    def chat(
        self, messages: list[list[dict]], sampling_params: list[Any], *, use_tqdm: bool = True
    ) -> list[Any]:
        params = sampling_params
        self.calls += 1
        assert len(messages) == len(params)
        if any("POISON" in m[-1]["content"] for m in messages):
            raise ValueError("unsupported request")
        return [self._one(m, p) for m, p in zip(messages, params, strict=True)]

    def _one(self, messages: list[dict], params: Any) -> Any:
        ours = tuple(ChatMessage(m["role"], m["content"]) for m in messages)
        structured = params.structured_outputs
        body = {"seed": params.seed, "schema": structured.json if structured else None}
        answer = scripted_answer(ours, body)
        logprobs = None
        if structured and structured.choice:
            assert params.max_tokens == 1 and params.logprobs == 20
            ranked = sorted(answer["probs"].items(), key=lambda kv: -kv[1])
            logprobs = [
                {rank: _Logprob(math.log(p), rank + 1, c) for rank, (c, p) in enumerate(ranked)}
            ]
        completion = types.SimpleNamespace(text=answer["text"], token_ids=[1, 2], logprobs=logprobs)
        return types.SimpleNamespace(prompt_token_ids=[0] * 17, outputs=[completion])


@dataclass
class _StructuredOutputsParams:
    json: dict | None = None
    choice: list[str] | None = None


class _SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        assert not any(k.startswith("guided") for k in kwargs)
        self.logprobs = None
        self.structured_outputs = None
        self.__dict__.update(kwargs)


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    sampling = types.ModuleType("vllm.sampling_params")
    module.LLM = _FakeEngine
    module.SamplingParams = _SamplingParams
    sampling.StructuredOutputsParams = _StructuredOutputsParams
    module.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    _FakeEngine.instances.clear()
    return module


class TestVLLMContractWithAFakeEngine(LLMBackendContract):
    exact_choices = True

    @pytest.fixture(autouse=True)
    def _engine(self, fake_vllm) -> None:
        pass

    def make(self) -> VLLMBackend:
        return VLLMBackend("fake/model", seed=1, max_model_len=2048)


def test_vllm_backend_one_engine_call_per_batch(fake_vllm):
    backend = VLLMBackend("fake/model", seed=1, enable_prefix_caching=True, dtype="half")
    engine = _FakeEngine.instances[-1]
    assert engine.options["enable_prefix_caching"] is True and engine.options["dtype"] == "half"
    assert "max_model_len" not in engine.options
    answers = backend.generate([req(f"Liked {i}?", schema=Verdict) for i in range(5)])
    assert engine.calls == 1
    assert all(a.prompt_tokens == 17 and a.completion_tokens == 2 for a in answers)
    runtime = LLMRuntime(backend)
    assert all(
        isinstance(a.parsed, Verdict) for a in runtime.generate([req("Liked?", schema=Verdict)])
    )


def test_vllm_backend_isolates_a_request_the_engine_rejects(fake_vllm):
    backend = VLLMBackend("fake/model")
    requests = [req(f"Hi {i}") for i in range(6)]
    requests[4] = req("POISON")
    answers = backend.generate(requests)
    assert [a.ok for a in answers] == [True, True, True, True, False, True]
    assert "unsupported request" in answers[4].error
    assert answers[0].text == backend.generate([requests[0]])[0].text


def test_backend_modules_import_without_their_packages():
    code = (
        "import sys, simulator, simulator.llm.openai_backend, simulator.llm.langchain_backend, "
        "simulator.llm.vllm_backend; "
        "print(sorted({'openai', 'langchain_core', 'vllm'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("/no/such/model", "llm.model: no model folder at /no/such/model"),
        ("EMPTY", "cannot be loaded as a Hugging Face model"),
    ],
)
def test_a_transformers_model_that_cannot_load_is_one_line_naming_it(tmp_path, folder, message):
    """A wrong local model path is a scenario mistake (one line, exit 2), not a traceback
    from the tokenizer's loader."""
    from simulator.errors import ScenarioError
    from simulator.llm.registry import make_llm

    model = str(tmp_path) if folder == "EMPTY" else folder
    with pytest.raises(ScenarioError, match=re.escape(message)) as caught:
        make_llm("transformers", model=model)
    assert "\n" not in str(caught.value)


def test_a_transformers_model_under_home_is_looked_for_there(tmp_path, monkeypatch):
    """transformers reads "~/model" as a hub id; the registry expands it first."""
    import simulator.llm.transformers_backend as backend
    from simulator.llm.registry import make_llm

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "my-model").mkdir()
    opened = []
    monkeypatch.setattr(backend, "TransformersLLM", lambda path, **kw: opened.append(path))
    make_llm("transformers", model="~/my-model")
    assert opened == [str(tmp_path / "my-model")]
