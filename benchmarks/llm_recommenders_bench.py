"""LLMs as recommenders and LLM-enhanced recommenders, each against its base, on ml-100k.

1. **tune**: SmolLM2 tuned with LoRA (``recworld tune --fidelity-split``) against the
   untuned model, as a simulated user's yes/no in the fidelity suite's own cases with
   popularity-matched negatives (AUC), for the first ``--users`` held-out users.
2. **tuned re-ranker**: ``tuned-llm`` over item-kNN's top 20 against item-kNN alone
   (leave-last-out, NDCG@10), for ``--rerank-users`` test users.
3. **enrich**: the content recommender on the items' own text against the same with
   SmolLM2-written item profiles (leave-last-out, NDCG@10, every test user).
4. **distill**: ALS on SmolLM2's yes/no labels against ALS on the real log.

Every step prints one JSON line; ``--steps`` picks some. On this CPU the whole run takes
about an hour; ``--tuned DIR`` reuses a tuned folder.

    python benchmarks/llm_recommenders_bench.py ../shared/data/ml-100k --out /tmp/llmrec
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from simulator.cli.app import load_data
from simulator.evaluation.offline import evaluate
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.subjects import LLMSubject
from simulator.llm.registry import make_llm
from simulator.llm.runtime import LLMRuntime
from simulator.llmrec.distill import distill
from simulator.llmrec.enrich import CACHE, enrich

STEPS = ("tune", "judge", "rerank", "enrich", "distill")


def say(step: str, **figures) -> None:
    print(json.dumps({"step": step, **figures}), flush=True)


def judge_auc(data, llm: LLMRuntime, users: int, hint: bool = False) -> dict:
    """The yes/no AUC of an LLM subject on the suite's default cases (popularity-matched
    negatives, m = 1), for the first ``users`` held-out users."""
    cases = build_cases(data, CaseConfig())
    rows = cases.discrimination_case("popularity", 1)
    rows = rows[rows["user_id"].isin(cases.users[:users])]
    subject = LLMSubject(llm, yes_map=False, hint=hint)
    subject.fit(cases.train)
    started = time.perf_counter()
    scores = subject.judge(rows[["user_id", "item_id"]])
    ok = ~np.isnan(scores)
    return {
        "auc": round(float(roc_auc_score(rows["label"][ok], scores[ok])), 4),
        "yes_share": round(float((scores[ok] >= 0.5).mean()), 3),
        "questions": len(rows),
        "seconds": round(time.perf_counter() - started, 1),
    }


def ndcg(result, label: str) -> float:
    s = result.summary
    return round(float(s[(s["recommender"] == label) & (s["metric"] == "ndcg")]["mean"].iloc[0]), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--tuned", type=Path, help="a tuned folder to reuse")
    parser.add_argument("--examples", type=int, default=160)
    parser.add_argument("--users", type=int, default=20, help="held-out users for the AUC")
    parser.add_argument("--rerank-users", type=int, default=200)
    parser.add_argument("--distill-users", type=int, default=20)
    parser.add_argument("--hint", action="store_true", help="tune and ask with the hint")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_data(args.data)
    tuned = args.tuned or args.out / "tuned"

    if "tune" in steps and args.tuned is None:
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "simulator.cli",
            "tune",
            args.data,
            "--out",
            str(tuned),
            "--examples",
            str(args.examples),
            "--fidelity-split",
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        info = json.loads((tuned / "tune.json").read_text())
        say(
            "tune",
            seconds=round(time.perf_counter() - started),
            examples=info["examples"],
            losses=info["losses"],
            accuracy=[info["accuracy_before"], info["accuracy_after"]],
        )
    if "judge" in steps:
        base = judge_auc(data, LLMRuntime(make_llm("smollm2")), args.users, args.hint)
        say("judge", model="smollm2", hint=args.hint, **base)
        tuned_llm = LLMRuntime(make_llm("tuned", model=str(tuned)))
        after = judge_auc(data, tuned_llm, args.users, args.hint)
        say("judge", model="smollm2 tuned", hint=args.hint, **after)
    if "rerank" in steps:
        result = evaluate(
            data,
            {
                "item-knn": "item-knn",
                "tuned-llm": {"name": "tuned-llm", "params": {"adapter": str(tuned)}},
            },
            k=10,
            users=args.rerank_users,
        )
        say(
            "rerank",
            item_knn=ndcg(result, "item-knn"),
            tuned_llm=ndcg(result, "tuned-llm"),
            users=args.rerank_users,
            seconds=float(
                result.summary[result.summary["recommender"] == "tuned-llm"]["recommend_s"].iloc[0]
            ),
        )
    if "enrich" in steps:
        started = time.perf_counter()
        enriched = enrich(data, LLMRuntime(make_llm("smollm2")), args.out / CACHE, users=False)
        seconds = round(time.perf_counter() - started)
        plain = evaluate(data, {"content": "content"}, k=10)
        rich = evaluate(enriched.dataset, {"content": "content"}, k=10)
        say(
            "enrich",
            content=ndcg(plain, "content"),
            content_enriched=ndcg(rich, "content"),
            profiles=enriched.asked + enriched.cached,
            seconds=seconds,
        )
    if "distill" in steps:
        started = time.perf_counter()
        result = distill(
            data,
            student="als",
            llm=LLMRuntime(make_llm("smollm2")),
            users=args.distill_users,
            own=5,
            unseen=5,
        )
        say(
            "distill",
            real=ndcg(result.offline, "als (real log)"),
            distilled=ndcg(result.offline, "als (LLM-labelled log)"),
            questions=len(result.labels),
            yes=len(result.log),
            seconds=round(time.perf_counter() - started),
        )


if __name__ == "__main__":
    main()
