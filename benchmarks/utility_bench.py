"""How fast the utility policy decides: 10,000 users × 20 steps, every user active.

Synthetic users and items, ``UserAgent``s in a bare ``mesa.Model``, slates from a
popularity ranking of items the user has not seen, two pages per visit, and the world's
kind of draws (two uniforms per page). Only ``UtilityPolicy.decide`` is timed; building
slates and observations is reported apart, since the world does that part itself.

    .venv/bin/python benchmarks/utility_bench.py [--users 10000] [--steps 20]
"""

from __future__ import annotations

import argparse
import gc
import time

import mesa
import numpy as np

from agents.actions.base import PageObservation
from agents.user import UserAgent
from agents.utility import UtilityModel, UtilityPolicy
from scenarios.datasets import generate_synthetic
from scenarios.profiles import item_profiles, user_profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--slate", type=int, default=10)
    args = parser.parse_args()

    t0 = time.perf_counter()
    dataset = generate_synthetic(n_users=args.users, n_items=args.items, seed=0)
    t1 = time.perf_counter()
    model = UtilityModel.from_dataset(dataset)
    policy = UtilityPolicy(model, seed=0)
    t2 = time.perf_counter()
    world = mesa.Model(seed=0)
    rng = np.random.default_rng(0)
    shares = {name: (0.3, 0.4, 0.3) for name in ("activity", "conformity", "diversity")}
    profiles = user_profiles(dataset.users, dataset, rng, shares)
    agents = [UserAgent(world, p) for p in profiles]
    items = {p.item_id: p for p in item_profiles(dataset)}
    counts = dataset.interactions["item_id"].value_counts()
    ranking = [i for i in counts.index if i in items] + [i for i in items if i not in counts]
    history = dataset.interactions.groupby("user_id")["item_id"].agg(set)
    for agent in agents:
        agent.seen.update(history.get(agent.user_id, ()))
    # As the world does: the long-lived setup leaves the cyclic collector's scans.
    gc.collect()
    gc.freeze()
    t3 = time.perf_counter()
    print(
        f"setup: dataset {t1 - t0:.1f}s, model {t2 - t1:.1f}s, agents {t3 - t2:.1f}s "
        f"({len(agents)} users, {len(items)} items)"
    )

    decide_s = build_s = 0.0
    pages_done = watches = exposures = 0
    per_visit = args.slate * args.pages
    for step in range(args.steps):
        started = time.perf_counter()
        slates = {a.user_id: _unseen_top(ranking, a.seen, per_visit) for a in agents}
        build_s += time.perf_counter() - started
        browsing = list(agents)
        for page in range(1, args.pages + 1):
            started = time.perf_counter()
            draws = rng.random((len(browsing), 2))
            observations = [
                PageObservation(
                    step=step,
                    page=page,
                    items=tuple(
                        items[i]
                        for i in slates[a.user_id][(page - 1) * args.slate : page * args.slate]
                    ),
                    recommender="most-popular",
                    draws=(float(d[0]), float(d[1])),
                )
                for a, d in zip(browsing, draws, strict=True)
            ]
            build_s += time.perf_counter() - started
            started = time.perf_counter()
            outcomes = policy.decide(browsing, observations)
            decide_s += time.perf_counter() - started
            pages_done += len(outcomes)
            watches += sum(o.watched for o in outcomes)
            exposures += sum(len(o.interactions) for o in outcomes)
            browsing = [a for a, o in zip(browsing, outcomes, strict=True) if o.next_page]
            if not browsing:
                break

    agent_steps = len(agents) * args.steps
    print(
        f"decide: {decide_s:.2f}s for {agent_steps} agent-steps ({pages_done} pages, "
        f"{exposures} exposures, {watches} watches) = {agent_steps / decide_s:,.0f} "
        f"agent-steps/s, {pages_done / decide_s:,.0f} pages/s"
    )
    print(f"slates and observations (not the policy): {build_s:.2f}s")


def _unseen_top(ranking: list[str], seen: set[str], k: int) -> list[str]:
    """The k most popular items the user has not seen."""
    out: list[str] = []
    for item in ranking:
        if item not in seen:
            out.append(item)
            if len(out) == k:
                break
    return out


if __name__ == "__main__":
    main()
