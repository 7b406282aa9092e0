"""Framework overhead per agent-step, with the scripted backend and its time excluded.

Every user visits every step (activity forced to 1), so an agent-step is one full visit:
recommend, recall, prompt building, answer validation, logging, memory writes. The
scripted backend's own time is LLM time and is subtracted, as a real model's would be.

    python benchmarks/world_overhead.py --users 1000 --steps 5
"""

from __future__ import annotations

import argparse
import tempfile
import time

from scenarios.loader import load_scenario
from simulator.compose import open_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--memory", choices=("in-memory", "chroma"), default="in-memory")
    parser.add_argument(
        "--visit-only",
        action="store_true",
        help="browse pages only: no interviews, searches, chats, corrections or taste summaries",
    )
    args = parser.parse_args()
    extras = (
        {
            "interviews": False,
            "search_rate": 0.0,
            "chat_rate": 0.0,
            "item_corrections": 0,
            "taste_summary": False,
        }
        if args.visit_only
        else {
            "interviews": True,
            "search_rate": 0.15,
            "chat_rate": 0.15,
            "item_corrections": 50,
            "taste_summary": True,
        }
    )
    scenario = load_scenario(
        "quickstart",
        steps=args.steps,
        pages=args.pages,
        **extras,
        **{
            "population.size": args.users,
            "memory.backend": args.memory,
            "llm.backend": "scripted",
            "llm.decisions": "json",
            "dataset.options": {
                "n_users": args.users,
                "n_items": args.items,
                "history_per_user": 20,
            },
        },
    )
    with tempfile.TemporaryDirectory() as out:
        build_start = time.perf_counter()
        world = open_world(scenario, seed=0, run_dir=out)
        build_s = time.perf_counter() - build_start
        for user in world.users:
            user.activity = 1.0
        start = time.perf_counter()
        world.run()
        wall = time.perf_counter() - start
        close_start = time.perf_counter()
        world.close()
        close_s = time.perf_counter() - close_start
    m = world.metrics()
    visits = int(m["active_users"].sum())
    llm_s = world.llm.stats.latency_s
    print(
        f"users {args.users}, items {args.items}, steps {world.steps}, pages <= {args.pages}, "
        f"memory {args.memory}"
    )
    print(f"build (data, profiles, fit): {build_s:.2f} s")
    pages = int((m["pages_per_visit"] * m["active_users"]).sum())
    print(f"agent-steps (visits): {visits}, pages browsed: {pages}")
    print(f"wall {wall:.2f} s, scripted LLM {llm_s:.2f} s, framework {world.overhead_s:.2f} s")
    print(
        f"framework overhead: {visits / world.overhead_s:,.0f} agent-steps/s "
        f"({1e3 * world.overhead_s / visits:.3f} ms per agent-step)"
    )
    print(f"LLM batches per step: {m['llm_batches'].tolist()}")
    written = int(m["memories_written"].sum())
    print(f"memories written: {written}; close (waits for writes) {close_s:.2f} s")


if __name__ == "__main__":
    main()
