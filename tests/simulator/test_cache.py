from scenarios.loader import load_scenario
from simulator.compose import open_world


def run(tmp_path, name, cache, seed=0):
    scenario = load_scenario(
        "quickstart",
        steps=3,
        **{
            "population.size": 20,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
            "llm.cache": str(cache),
        },
    )
    out = tmp_path / name
    with open_world(scenario, seed=seed, run_dir=out) as world:
        world.run()
        stats = world.llm.stats
    logs = {p.name: p.read_bytes() for p in sorted((out / "interactions.parquet").iterdir())}
    return stats, logs


def test_a_cached_rerun_makes_no_calls_and_writes_identical_logs(tmp_path):
    cache = tmp_path / "llm.sqlite"
    first, logs = run(tmp_path, "a", cache)
    again, replay = run(tmp_path, "b", cache)
    assert first.calls > 0
    assert again.calls == 0 and again.cache_hits == first.calls + first.cache_hits
    assert again.prompt_tokens == 0
    assert replay == logs


def test_the_cache_key_includes_the_seed(tmp_path):
    cache = tmp_path / "llm.sqlite"
    run(tmp_path, "a", cache, seed=0)
    other, _ = run(tmp_path, "b", cache, seed=1)
    assert other.calls > 0


def test_the_backend_seed_is_part_of_the_key(tmp_path):
    from simulator.llm.cache import CachedLLM
    from simulator.llm.scripted import ScriptedLLM
    from simulator.types import ChatMessage, LLMRequest

    request = LLMRequest(messages=(ChatMessage("user", "hello"),))
    db = tmp_path / "c.sqlite"
    first = CachedLLM(ScriptedLLM(seed=1), db).generate([request])[0]
    other = CachedLLM(ScriptedLLM(seed=2), db).generate([request])[0]
    assert not other.cached and other.text == ScriptedLLM(seed=2).generate([request])[0].text
    assert CachedLLM(ScriptedLLM(seed=1), db).generate([request])[0].text == first.text
