"""Agent decisions per second on a GPU, batched against one request at a time.

For a GPU machine with PyTorch and transformers but no network and no weights: a
7-8B-class model (Qwen2-7B's shape) is built with random weights in bf16 directly on the
GPU. Throughput does not depend on the weight values. Decisions are scored choices (one
forward pass each, so random text cannot change their length); generation is timed with
a fixed number of new tokens for the same reason.

    python benchmarks/gpu_bench.py --agents 200 --steps 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def build_model(tokenizer_dir: str, layers: int):
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen2Config(
        vocab_size=max(len(tokenizer), 32000),
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=layers,
        num_attention_heads=28,
        num_key_value_heads=4,
        max_position_embeddings=8192,
        torch_dtype="bfloat16",
    )
    torch.set_default_device("cuda")
    torch.set_default_dtype(torch.bfloat16)
    model = Qwen2ForCausalLM(config)  # random weights, made on the GPU
    torch.set_default_device("cpu")
    torch.set_default_dtype(torch.float32)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    return model.eval(), tokenizer, params


class Recorder:
    def __init__(self, inner) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.requests = []

    def generate(self, requests):
        self.requests.extend(requests)
        return self.inner.generate(requests)


def main() -> None:
    import torch

    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.llm.transformers_backend import TransformersLLM

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--tokenizer", default="benchmarks/tokenizer")
    parser.add_argument("--sequential", type=int, default=32, help="requests timed one by one")
    parser.add_argument("--out", default="gpu_bench.json")
    args = parser.parse_args()

    model, tokenizer, params = build_model(args.tokenizer, args.layers)
    gpu = torch.cuda.get_device_name()
    print(f"model: Qwen2 shape, {args.layers} layers, {params:.2f}B params, bf16, {gpu}")
    backend = Recorder(
        TransformersLLM.from_objects(model, tokenizer, model="qwen2-7b-random", max_batch=256)
    )
    scenario = load_scenario(
        "quickstart",
        steps=args.steps,
        slate_size=5,
        pages=3,
        memory_k=5,
        **{
            "population.size": args.agents,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "choice",
            "dataset.options": {"n_users": max(args.agents, 200)},
        },
    )
    with open_world(scenario, llm=backend, seed=0) as world:
        for user in world.users:
            user.activity = 1.0
        torch.cuda.synchronize()
        start = time.perf_counter()
        world.run()
        torch.cuda.synchronize()
        batched_s = time.perf_counter() - start
        llm_s = world.llm.stats.latency_s
    decisions = len(backend.requests)
    sample = backend.requests[: args.sequential]
    torch.cuda.synchronize()
    start = time.perf_counter()
    for request in sample:
        backend.inner.generate([request])
    torch.cuda.synchronize()
    one_s = (time.perf_counter() - start) / len(sample)

    gen = backend.requests[: min(64, decisions)]
    enc = tokenizer([backend.inner.prompt(r) for r in gen], return_tensors="pt", padding=True).to(
        "cuda"
    )
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        model.generate(
            **enc,
            max_new_tokens=64,
            min_new_tokens=64,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    torch.cuda.synchronize()
    gen_tps = 64 * len(gen) / (time.perf_counter() - start)

    result = {
        "gpu": torch.cuda.get_device_name(),
        "params_b": round(params, 2),
        "agents": args.agents,
        "decisions": decisions,
        "batched_decisions_per_s": decisions / llm_s,
        "world_wall_s": batched_s,
        "sequential_decisions_per_s": 1.0 / one_s,
        "speedup": (decisions / llm_s) * one_s,
        "generate_tokens_per_s_batch64": gen_tps,
    }
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
