def test_a_bad_override_is_blamed_on_the_override_not_the_file():
    import pytest

    from scenarios.loader import load_scenario
    from simulator.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"^command-line override: steps: "):
        load_scenario("filter-bubble", steps=0)


def test_an_empty_scenario_file_is_refused_not_run_with_every_default(tmp_path):
    """An empty file (or one of comments only) is a mistake; running 100 users for ten
    steps on the defaults would hide it."""
    import pytest

    from scenarios.loader import load_scenario
    from simulator.errors import ScenarioError

    for text in ("", "# only a comment\n", "{}\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(ScenarioError, match=rf"^{path}: the scenario is empty; "):
            load_scenario(path)
