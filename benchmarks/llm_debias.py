"""The LLM fidelity subject's answer biases, measured on held-out users.

Three numbers, each against the fidelity suite's own cases:

* ``yes_share``: the share of yes answers (P(yes) >= 0.5) at m = 1, where the base rate
  is 0.5;
* ``first_share``: the share of ranking lists whose top-scored film sat in the first
  position (letter A); 0.1 is no position bias;
* ``auc_m1`` and ``ndcg10``: how well the answers tell liked from unseen films (AUC of
  P(yes) at m = 1) and rank the liked film among ten (NDCG@10), reported as they are;
* ``rating_tv``: total variation between the withheld ratings and the mean predicted
  rating distribution.

Run from the repository root (a few minutes with SmolLM2 on a CPU)::

    python benchmarks/llm_debias.py ../shared/data/ml-100k --users 8 --orders 3
    python benchmarks/llm_debias.py ../shared/data/ml-100k --users 8 --orders 1 --no-calibration

``first_share_by_position`` is the share of lists whose top item sat at each position.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time

import numpy as np

from scenarios.datasets import guess_kind, load_dataset
from simulator.fidelity import measures
from simulator.fidelity.cases import CaseConfig, build_cases
from simulator.fidelity.subjects import LLMSubject
from simulator.llm.registry import make_llm
from simulator.llm.runtime import LLMRuntime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--llm", default="smollm2")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--positives", type=int, default=2)
    parser.add_argument("--rated", type=int, default=4)
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--no-calibration", action="store_true")
    parser.add_argument("--rating-prior", action="store_true")
    args = parser.parse_args()

    dataset = load_dataset(guess_kind(args.data), args.data)
    config = CaseConfig(
        users=args.users, positives=args.positives, rated=args.rated, multiples=(1,)
    )
    cases = build_cases(dataset, config)
    options = {
        "orders": args.orders,
        "calibrate": not args.no_calibration,
        "rating_prior": args.rating_prior,
    }
    accepted = inspect.signature(LLMSubject).parameters
    subject = LLMSubject(
        LLMRuntime(make_llm(args.llm, seed=0)),
        **{k: v for k, v in options.items() if k in accepted},
    )
    started = time.perf_counter()
    subject.fit(cases.train)

    d = cases.discrimination[cases.case_mask("uniform", 1)]
    yes = subject.judge(d[["user_id", "item_id"]].reset_index(drop=True))

    r = cases.ranking.sort_values(["kind", "list", "position"])
    groups = [
        (rows["user_id"].iloc[0], rows["item_id"].tolist())
        for _, rows in r.groupby(["kind", "list"], sort=False)
    ]
    scores = subject.rank(groups)
    top = [int(np.argmax(s)) for s in scores if not np.isnan(s).all()]
    first = [t == 0 for t in top]
    ties = np.random.default_rng(0)
    ranks = [
        measures.rank_of_target(
            np.nan_to_num(s), ties.random(len(s)), int(np.flatnonzero(rows["label"])[0])
        )
        for s, (_, rows) in zip(scores, r.groupby(["kind", "list"], sort=False), strict=True)
    ]

    levels = cases.scale.levels
    probs = subject.rate(cases.rating[["user_id", "item_id"]], levels)
    real = np.array([(cases.rating["rating"] == v).mean() for v in levels])
    simulated = np.nanmean(probs, axis=0)
    result = {
        "llm": args.llm,
        "options": {k: v for k, v in options.items() if k in accepted},
        "yes_share_m1": float(np.mean(yes >= 0.5)),
        "auc_m1": measures.auc(d["label"].to_numpy(), np.nan_to_num(yes, nan=0.5)),
        "n_judge": len(yes),
        "ndcg10": float(np.mean(measures.ndcg_single(np.array(ranks), 10))) if ranks else None,
        "first_share": float(np.mean(first)),
        "n_lists": len(first),
        "first_share_by_position": np.bincount(top, minlength=10).tolist(),
        "rating_tv": float(0.5 * np.abs(real - simulated).sum()),
        "rating_real": [round(float(x), 3) for x in real],
        "rating_simulated": [round(float(x), 3) for x in simulated],
        "calls": subject.llm.stats.calls,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
