"""LLM calls and prompt tokens per agent-page, with the scripted backend.

The goal is at most one call and at most 800 prompt tokens per page, against Agent4Rec's
roughly 2,100 tokens per page (6.9M tokens for 1,000 agents at about 3.2 pages each).
Prompt tokens are counted as the scripted backend counts them (about 0.75 words per
token); the choice mode is also shown with the SmolLM2 tokenizer when it is installed.

    python benchmarks/llm_batching.py --users 200 --steps 5
"""

from __future__ import annotations

import argparse
from collections import Counter

from scenarios.loader import load_scenario
from simulator.compose import build_llm, open_world
from simulator.seeding import RunSeeds


class Counting:
    """Wraps a backend and counts requests and batches by tag."""

    def __init__(self, inner):
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.requests: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()

    def generate(self, requests):
        for tag in {r.tag for r in requests}:
            self.batches[tag] += 1
        self.requests.update(r.tag for r in requests)
        return self.inner.generate(requests)


def measure(decisions: str, users: int, steps: int) -> None:
    scenario = load_scenario(
        "quickstart",
        steps=steps,
        slate_size=5,
        pages=3,
        memory_k=5,
        **{
            "population.size": users,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": decisions,
            "dataset.options": {"n_users": max(users, 200)},
        },
    )
    c = Counting(build_llm(scenario.llm, RunSeeds(0).component))
    with open_world(scenario, seed=0, llm=c) as world:
        world.run()
        m = world.metrics()
        stats = world.llm.stats
    pages = int((m["pages_per_visit"] * m["active_users"]).sum())
    decision_calls = c.requests["browse"] + c.requests["rate"]
    print(f"[{decisions}] {users} users, {steps} steps, {pages} agent-pages")
    print(
        f"  decision calls per page: {decision_calls / pages:.2f} "
        f"(browse {c.requests['browse']}, rate {c.requests['rate']})"
    )
    print(f"  all calls per page (memory included): {stats.calls / pages:.2f}")
    print(f"  prompt tokens per page (all calls): {stats.prompt_tokens / pages:.0f}")
    print(f"  LLM batches per step: {m['llm_batches'].tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    for mode in ("json", "choice"):
        measure(mode, args.users, args.steps)


if __name__ == "__main__":
    main()
