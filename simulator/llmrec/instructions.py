"""Instruction data for tuning an LLM recommender, from a dataset's training histories.

Two tasks, in the manner of TALLRec:

* **judge**: "would this user like X?", answered ``yes`` for an item the user liked and
  ``no`` for one they never touched (half drawn uniformly from the catalogue, half of
  the liked item's own popularity, so that popularity alone cannot answer);
* **rank**: "which of these will the user choose?", ten items lettered A-J, one liked
  among nine unseen, answered with the liked item's letter (its place is drawn, so every
  letter is an answer about as often);
* **rerank**: the same question as the ``tuned-llm`` recommender asks it
  (``rerank_request``: the user's latest items, then the ten candidates lettered).

The questions are the very prompts the simulator's LLM agents are asked
(``LLMSubject.judge_request`` and ``rank_request``: the persona, the rated history, the
user's verdicts on the most similar items), so a tuned model is tuned for the questions
it will get. The liked items asked about are withheld from the history the prompts show
(``build_cases``): an answer can never be read off the prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.dataset import Dataset
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.subjects import LLMSubject
from simulator.llm.runtime import LLMRuntime
from simulator.llm.scripted import ScriptedLLM
from simulator.recommenders.llm_rerank import HISTORY_SHOWN, item_titles, rerank_request
from simulator.types import ChatMessage, LLMRequest

TASKS = ("judge", "rank", "rerank")


@dataclass(frozen=True)
class Example:
    """One instruction: the request as the model will see it and the right answer."""

    task: str
    user_id: str
    items: tuple[str, ...]
    request: LLMRequest
    answer: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "task": self.task,
                "user_id": self.user_id,
                "items": list(self.items),
                "messages": [{"role": m.role, "content": m.content} for m in self.request.messages],
                "choices": list(self.request.choices or ()),
                "tag": self.request.tag,
                "answer": self.answer,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> Example:
        d = json.loads(line)
        request = LLMRequest(
            messages=tuple(ChatMessage(m["role"], m["content"]) for m in d["messages"]),
            choices=tuple(d["choices"]),
            tag=d.get("tag", d["task"]),
        )
        return cls(d["task"], d["user_id"], tuple(d["items"]), request, d["answer"])


def build_examples(
    dataset: Dataset,
    *,
    examples: int = 300,
    rank_share: float = 0.25,
    hint: bool = False,
    seed: int = 0,
) -> list[Example]:
    """About ``examples`` instructions, ``rank_share`` of them ranking lists (half as the
    agents ask them, half as the ``tuned-llm`` recommender does), the rest yes/no
    questions half liked and half unseen, from as many users as that needs.
    ``hint`` puts the taste core's estimate in every question (``LLMSubject(hint=True)``);
    a model tuned on such questions is asked them with the hint too.

    Raises:
        RecworldError: The data has too few users with liked history (``build_cases``).
    """
    rank_n = round(examples * rank_share)
    judge_n = examples - rank_n
    # Each user gives two liked items: two yes/no pairs per kind of unseen item (four
    # yes, four no over both kinds) and one ranking list per kind.
    users = max(1, -(-judge_n // 8), -(-rank_n // 2))
    n_users = int(dataset.interactions["user_id"].nunique())
    cases = build_cases(
        dataset,
        CaseConfig(
            users=min(users, n_users),
            positives=2,
            rated=1,
            multiples=(1,),
            min_history=5,
            seed=seed,
        ),
    )
    subject = LLMSubject(
        LLMRuntime(ScriptedLLM(seed=seed)), calibrate=False, yes_map=False, hint=hint
    )
    subject.fit(cases.train)
    judged = [
        Example(
            "judge",
            str(row.user_id),
            (str(row.item_id),),
            subject.judge_request(str(row.user_id), str(row.item_id)),
            "yes" if row.label else "no",
        )
        for row in cases.discrimination.itertuples(index=False)
    ]
    titles = item_titles(cases.train.items)
    inter = cases.train.interactions.sort_values("timestamp", kind="stable")
    latest = inter.groupby("user_id")["item_id"].agg(lambda s: [str(i) for i in s][-HISTORY_SHOWN:])
    ranked, reranked = [], []
    for _, rows in cases.ranking.sort_values(["list", "position"]).groupby("list", sort=True):
        user, items = str(rows["user_id"].iloc[0]), [str(i) for i in rows["item_id"]]
        target = int(np.flatnonzero(rows["label"].to_numpy())[0])
        request = subject.rank_request(user, items)
        ranked.append(Example("rank", user, tuple(items), request, request.choices[target]))  # type: ignore[index]
        request = rerank_request(
            [titles.get(i, i) for i in latest.get(user, [])], [titles.get(i, i) for i in items]
        )
        answer = request.choices[target]  # type: ignore[index]
        reranked.append(Example("rerank", user, tuple(items), request, answer))
    rng = np.random.default_rng(seed)
    chosen = [judged[i] for i in sorted(rng.permutation(len(judged))[:judge_n])]
    chosen += [ranked[i] for i in sorted(rng.permutation(len(ranked))[: rank_n - rank_n // 2])]
    chosen += [reranked[i] for i in sorted(rng.permutation(len(reranked))[: rank_n // 2])]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def write_examples(examples: list[Example], path: str | Path) -> None:
    Path(path).write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")


def read_examples(path: str | Path) -> list[Example]:
    return [Example.from_json(line) for line in Path(path).read_text("utf-8").splitlines() if line]
