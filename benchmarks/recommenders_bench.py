"""Fit time, per-step recommend time and leave-last-out accuracy of every recommender.

Run: ``python benchmarks/recommenders_bench.py [--data ../shared/data/ml-100k]``.
Timing asks for 10 items for 1,000 users (MovieLens-100K has 943, so the rest are
unknown users, as new agents would be); accuracy holds out each user's last interaction
(``simulator.evaluation.splits.leave_last_out``) and ranks all items the user has not
seen; ``recworld evaluate`` reports the same split with intervals and more metrics.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scenarios.datasets import load_movielens_100k
from simulator.evaluation.metrics import ranking_metrics
from simulator.evaluation.splits import leave_last_out
from simulator.recommenders import make_recommender
from simulator.recommenders.content import ContentRecommender
from simulator.recommenders.implicit_mf import ALSRecommender, BPRRecommender
from simulator.recommenders.knn import ItemKNNRecommender
from simulator.recommenders.sasrec import SASRecRecommender


def builders():
    """Every built-in, each seeded 0, with default settings."""
    return {
        "random": lambda: make_recommender("random", seed=0),
        "most-popular": lambda: make_recommender("most-popular", seed=0),
        "mmr": lambda: make_recommender("mmr", seed=0),
        "item-knn": lambda: ItemKNNRecommender(seed=0),
        "als": lambda: ALSRecommender(seed=0),
        "bpr": lambda: BPRRecommender(seed=0),
        "content": lambda: ContentRecommender(seed=0),
        "sasrec": lambda: SASRecRecommender(seed=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--only", nargs="*", help="names of recommenders to run")
    args = parser.parse_args()

    split = leave_last_out(load_movielens_100k(args.data))
    users = sorted(split.test)
    step_users = (users + [f"new-{i}" for i in range(1000)])[:1000]
    print("| recommender | fit s | recommend 1,000 users ms | NDCG@10 | HitRate@10 |")
    print("|---|---:|---:|---:|---:|")
    for name, build in builders().items():
        if args.only and name not in args.only:
            continue
        rec = build()
        start = time.perf_counter()
        rec.fit(split.train)
        fit_s = time.perf_counter() - start
        times = []
        for _ in range(3):
            start = time.perf_counter()
            rec.recommend(step_users, 10)
            times.append(time.perf_counter() - start)
        slates = rec.recommend(users, 10)
        scores = ranking_metrics([slates[u] for u in users], [split.test[u] for u in users], 10)
        ndcg, hits = scores["ndcg"].mean(), scores["hit_rate"].mean()
        print(
            f"| {name} | {fit_s:.2f} | {1000 * min(times):.0f} | {ndcg:.4f} | {hits:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
