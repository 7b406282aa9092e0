def test_a_bad_override_is_blamed_on_the_override_not_the_file():
    import pytest

    from scenarios.loader import load_scenario
    from simulator.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"^command-line override: steps: "):
        load_scenario("filter-bubble", steps=0)
