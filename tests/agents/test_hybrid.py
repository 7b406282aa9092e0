from agents.hybrid import routes_to_llm
from scenarios.loader import load_scenario
from simulator.compose import open_world


def run(policy, band=None, **overrides):
    scenario = load_scenario(
        "quickstart",
        steps=3,
        policy=policy,
        **{
            "population.size": 40,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
            **overrides,
        },
    )
    world = open_world(scenario, seed=2)
    if band is not None:
        world.policy.band = band
    world.run()
    world.close()
    return world


def test_hybrid_routes_only_some_pages_to_the_llm():
    # An outside option this low leaves some pages near even odds of a watch.
    world = run("hybrid", utility={"no_click": -1.0})
    share = world.policy.routed_share
    assert 0.0 < share < 1.0
    browse_calls = world.llm.stats.calls
    assert browse_calls > 0
    assert world.metrics()["routed_share"].iloc[-1] == share


def test_a_narrower_band_routes_fewer_pages():
    wide = run("hybrid", utility={"no_click": -1.0})
    narrow = run("hybrid", utility={"no_click": -1.0}, band=0.05)
    assert narrow.policy.routed_share < wide.policy.routed_share


def test_utility_policy_makes_no_llm_calls():
    world = run("utility")
    assert world.llm.stats.calls == 0
    assert world.metrics()["watches"].sum() > 0


def test_routing_takes_pages_within_the_band_and_pages_with_a_cold_item():
    band = 0.15
    probability = [0.5, 0.36, 0.64, 0.34, 0.66, 0.0, 1.0, 0.9]
    cold = [False, False, False, False, False, False, False, True]
    route = routes_to_llm(probability, cold, band)
    assert route.dtype == bool
    assert route.tolist() == [True, True, True, False, False, False, False, True]


def test_routing_band_edges_are_inclusive_and_zero_band_takes_only_cold_pages():
    # 0.25 and 0.75 are exact in binary, so |p − 0.5| equals the band exactly.
    assert routes_to_llm([0.25, 0.75, 0.2499, 0.7501], [False] * 4, 0.25).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert routes_to_llm([0.5, 0.5], [False, True], 0.0).tolist() == [True, True]
    assert routes_to_llm([0.49, 0.9], [False, True], 0.0).tolist() == [False, True]
    assert routes_to_llm([], [], 0.15).tolist() == []
