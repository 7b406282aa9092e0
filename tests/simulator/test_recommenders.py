import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import ScenarioError
from simulator.recommenders import (
    MostPopularConfig,
    MostPopularRecommender,
    RandomRecommender,
    make_recommender,
)
from simulator.recommenders import base as recommender_base
from simulator.recommenders.base import ScoringRecommender
from simulator.recommenders.llm_rerank import AgentCFRanker, LLMReranker
from simulator.recommenders.mmr import MMRConfig, MMRRecommender
from simulator.testing import RecommenderContract, check_recommender, contract_dataset


class TestRandom(RecommenderContract):
    make = staticmethod(lambda seed: RandomRecommender(seed=seed))


class TestMostPopular(RecommenderContract):
    make = staticmethod(lambda seed: MostPopularRecommender(seed=seed))


class TestMMR(RecommenderContract):
    make = staticmethod(lambda seed: MMRRecommender(MMRConfig(candidates=12), seed=seed))


class TestMostPopularDecayed(RecommenderContract):
    make = staticmethod(
        lambda seed: MostPopularRecommender(MostPopularConfig(half_life=2), seed=seed)
    )


def test_most_popular_ranks_by_count():
    data = contract_dataset()
    rec = MostPopularRecommender()
    rec.fit(data)
    counts = data.interactions["item_id"].value_counts()
    top = rec.recommend(["newcomer"], 3)["newcomer"]
    assert [counts.get(i, 0) for i in top] == sorted(counts.tolist(), reverse=True)[:3]


def test_decay_lets_new_items_overtake_old_favourites():
    import pandas as pd

    data = contract_dataset()
    rec = MostPopularRecommender(MostPopularConfig(half_life=0.5))
    rec.fit(data)
    old_top = rec.recommend(["x"], 1)["x"][0]
    fresh = pd.DataFrame(
        {"user_id": ["a", "b", "c"], "item_id": ["i29"] * 3, "timestamp": 1, "rating": 4.0}
    )
    for _ in range(3):
        rec.update(fresh)
    assert rec.recommend(["x"], 1)["x"] == ["i29"] != [old_top]


def test_random_differs_by_seed():
    data = contract_dataset()
    outs = []
    for seed in (1, 2):
        rec = RandomRecommender(seed=seed)
        rec.fit(data)
        outs.append(rec.recommend(data.user_ids, 5))
    assert outs[0] != outs[1]


def test_check_recommender_catches_a_broken_one():
    class SeenLeaker(MostPopularRecommender):
        def recommend(self, user_ids, k, *, exclude_seen=True, candidates=None):
            return super().recommend(user_ids, k, exclude_seen=False, candidates=candidates)

    check_recommender(lambda seed: MostPopularRecommender(seed=seed))
    with pytest.raises(AssertionError):
        check_recommender(lambda seed: SeenLeaker(seed=seed))


def test_check_recommender_says_what_a_forgotten_state_breaks():
    """A recommender that learns in ``_fit`` but keeps nothing in ``_state`` loses it on
    load: the check reports that as a breach naming save/load, not a bare AttributeError."""
    import numpy as np

    from simulator.recommenders import ScoringRecommender

    class Forgetful(ScoringRecommender):
        name = "forgetful"

        def _fit(self, interactions):
            self._weights = np.arange(len(self.item_ids), dtype=float)

        def _scores(self, users):
            return np.tile(self._weights, (len(users), 1))

    with pytest.raises(
        AssertionError, match=r"test_save_and_load_round_trip: AttributeError.*_state\(\)"
    ):
        check_recommender(lambda seed: Forgetful(seed=seed))


def test_scores_of_the_wrong_shape_are_refused_naming_the_class():
    import numpy as np

    from simulator.errors import RecworldError
    from simulator.recommenders import ScoringRecommender

    class Transposed(ScoringRecommender):
        name = "transposed"

        def _scores(self, users):
            return np.zeros((len(self.item_ids), len(users)))

    rec = Transposed(seed=0)
    data = contract_dataset()
    rec.fit(data)
    users = data.user_ids[:3]
    with pytest.raises(
        RecworldError, match=rf"Transposed._scores .* \({len(users)}, {len(data.item_ids)}\)"
    ):
        rec.recommend(users, 2)


def test_registry_errors_name_the_field():
    with pytest.raises(ScenarioError, match=r"recommender\.name: unknown recommender 'nope'"):
        make_recommender("nope", seed=0)
    with pytest.raises(ScenarioError, match=r"recommender\.params\.half_life: .*\(got 'soon'\)"):
        make_recommender("most-popular", {"half_life": "soon"}, seed=0)
    # A misspelt parameter lists the ones the recommender has.
    with pytest.raises(
        ScenarioError,
        match=r"recommender\.params\.kk: item-knn has no parameter 'kk'; its parameters are "
        r"k_neighbours, shrink$",
    ):
        make_recommender("item-knn", {"kk": 5}, seed=0)
    with pytest.raises(
        ScenarioError, match=r"^recommender\.params\.adapter: tuned-llm needs 'adapter'; "
    ):
        make_recommender("tuned-llm", {}, seed=0)


def test_recommend_before_fit_says_what_to_do():
    with pytest.raises(RuntimeError, match="call fit"):
        RandomRecommender().recommend(["u"], 3)


def test_mmr_diversifies_the_genres_of_a_slate():
    data = contract_dataset()
    plain = MostPopularRecommender()
    plain.fit(data)
    diverse = MMRRecommender(MMRConfig(relevance=0.3))
    diverse.fit(data)
    genres = dict(zip(data.items["item_id"], data.items["genres"], strict=True))

    def distinct(items):
        return len({g for i in items for g in genres[i]})

    users = data.user_ids
    a = plain.recommend(users, 4)
    b = diverse.recommend(users, 4)
    assert sum(distinct(b[u]) for u in users) > sum(distinct(a[u]) for u in users)
    full = MMRRecommender(MMRConfig(relevance=1.0))
    full.fit(data)
    assert full.recommend(users, 4) == a  # lambda 1 keeps the base ranking


def test_bring_your_own_by_import_path_passes_the_contract(monkeypatch):
    from simulator.recommenders.registry import import_recommender

    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender")
    rec = import_recommender("byo_recommender.GenreMatch", {"boost": 2.0}, seed=3)
    assert rec.boost == 2.0 and rec.seed == 3
    check_recommender(lambda seed: import_recommender("byo_recommender.GenreMatch", seed=seed))


def test_bad_import_paths_say_what_is_wrong(monkeypatch):
    from simulator.recommenders.registry import import_recommender

    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender,nowhere")
    with pytest.raises(ScenarioError, match=r"cannot import 'nowhere\.Rec'"):
        import_recommender("nowhere.Rec", seed=0)
    with pytest.raises(ScenarioError, match="lacks fit, recommend, update, name"):
        import_recommender("byo_recommender.NotARecommender", seed=0)


def test_an_installed_packages_entry_point_is_allowed_and_named(monkeypatch):
    """A package that declares ``recworld.recommenders`` entry points is allowed by being
    installed: its recommender is usable by name and by class path, with no environment
    variable, and still checked against the protocol; other modules stay refused."""
    from importlib.metadata import EntryPoint

    import simulator.imports
    from simulator.compose import build_recommender
    from simulator.config import RecommenderSpec
    from simulator.recommenders.registry import import_recommender

    declared = {
        "recworld.recommenders": [
            EntryPoint("genre-match", "byo_recommender:GenreMatch", "recworld.recommenders"),
            EntryPoint("broken", "byo_recommender:NotARecommender", "recworld.recommenders"),
        ]
    }
    monkeypatch.delenv("RECWORLD_ALLOW_IMPORT", raising=False)
    monkeypatch.setattr(simulator.imports, "entry_points", lambda group: declared.get(group, []))
    spec = RecommenderSpec(name="genre-match", params={"boost": 2.0})
    rec = build_recommender(spec, seed=3)
    assert type(rec).__name__ == "GenreMatch" and rec.boost == 2.0
    assert import_recommender("byo_recommender.GenreMatch", seed=0).name == "genre-match"
    with pytest.raises(ScenarioError, match="lacks fit, recommend, update, name"):
        build_recommender(RecommenderSpec(name="broken"), seed=0)
    with pytest.raises(ScenarioError, match="RECWORLD_ALLOW_IMPORT="):
        import_recommender("os.system", {"command": "true"}, seed=0)
    with pytest.raises(ValueError, match="genre-match"):
        RecommenderSpec(name="no-such-plugin")


def test_a_name_declared_by_the_class_may_be_set_by_its_constructor(monkeypatch):
    from simulator.recommenders.registry import import_recommender

    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender")
    assert import_recommender("byo_recommender.NamedOnInit", seed=0).name == "named-on-init"


def test_a_scenario_names_no_code_the_user_did_not_allow(tmp_path, monkeypatch):
    """``os.system`` and ``subprocess.Popen`` from a scenario never run: their modules are
    not allowed; allowed, a function is not a class, and Popen is no recommender, which is
    found before anything is built."""
    from simulator.recommenders.registry import import_recommender

    marker = tmp_path / "PWNED"
    monkeypatch.delenv("RECWORLD_ALLOW_IMPORT", raising=False)
    attempts = [
        ("os.system", {"command": f"touch {marker}"}),
        ("subprocess.Popen", {"args": ["touch", str(marker)]}),
    ]
    for path, params in attempts:
        with pytest.raises(ScenarioError, match="RECWORLD_ALLOW_IMPORT=") as err:
            import_recommender(path, params, seed=0)
        assert str(err.value).startswith(f"recommender.class: '{path}' is code")
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "os,subprocess")
    with pytest.raises(ScenarioError, match="is not a class"):
        import_recommender(*attempts[0], seed=0)
    with pytest.raises(ScenarioError, match="lacks fit, recommend, update, name"):
        import_recommender(*attempts[1], seed=0)
    assert not marker.exists()


def test_a_langchain_class_must_be_an_allowed_chat_model(tmp_path, monkeypatch):
    from simulator.llm.registry import make_llm

    marker = tmp_path / "PWNED"
    options = {"class": "subprocess.Popen", "params": {"args": ["touch", str(marker)]}}
    with pytest.raises(ScenarioError, match=r"llm\.options\.class: 'subprocess\.Popen' is code"):
        make_llm("langchain", **options)
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "subprocess")
    with pytest.raises(ScenarioError, match="not a LangChain chat model"):
        make_llm("langchain", **options)
    assert not marker.exists()


def test_a_scenario_switches_recommender_mid_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RECWORLD_ALLOW_IMPORT", "byo_recommender")
    from scenarios.loader import load_scenario
    from simulator.compose import open_world
    from simulator.runlog import read_events, read_interactions

    scenario = load_scenario(
        "quickstart",
        steps=4,
        switches=[{"at_step": 3, "recommender": {"class": "byo_recommender.GenreMatch"}}],
        **{
            "population.size": 30,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
        },
    )
    with open_world(scenario, seed=1, run_dir=tmp_path) as world:
        world.run()
    rows = read_interactions(tmp_path)
    served = rows.groupby("step")["recommender"].unique().map(tuple).to_dict()
    assert served[1] == served[2] == ("most-popular",)
    assert served[3] == served[4] == ("genre-match",)
    assert "switch" in set(read_events(tmp_path)["kind"])


class _ContextLLM:
    """Prefers the candidate whose label is highest, so re-ranking reverses the base order."""

    name, model = "reverse", "r"

    def generate(self, requests):
        from simulator.types import LLMResponse

        out = []
        for r in requests:
            weights = {c: float(i + 1) for i, c in enumerate(r.choices)}
            total = sum(weights.values())
            out.append(
                LLMResponse(
                    text=r.choices[-1], choice_probs={c: w / total for c, w in weights.items()}
                )
            )
        return out


def _attached(cls, seed):
    from simulator.recommenders.llm_rerank import LLMRerankConfig, RecommenderContext

    rec = cls(LLMRerankConfig(candidates=5), seed=seed)
    rec.attach(RecommenderContext(llm=_ContextLLM()))
    return rec


class TestLLMReranker(RecommenderContract):
    make = staticmethod(lambda seed: _attached(LLMReranker, seed))


class TestAgentCFRanker(RecommenderContract):
    make = staticmethod(lambda seed: _attached(AgentCFRanker, seed))


def test_llm_reranker_orders_candidates_by_choice_probability():
    data = contract_dataset()
    base = MostPopularRecommender()
    base.fit(data)
    rec = _attached(LLMReranker, 0)
    rec.fit(data)
    user = data.user_ids[0]
    top5 = base.recommend([user], 5)[user]
    assert rec.recommend([user], 5)[user] == top5[::-1]
    assert rec.calls == 1


def test_the_world_lends_the_llm_to_an_agentcf_ranker():
    from scenarios.loader import load_scenario
    from simulator.compose import open_world

    scenario = load_scenario(
        "quickstart",
        steps=2,
        recommender={"name": "agentcf"},
        **{
            "population.size": 20,
            "memory.backend": "in-memory",
            "llm.backend": "scripted",
            "llm.decisions": "json",
        },
    )
    with open_world(scenario, seed=0) as world:
        world.run()
        ranker = world.arms["agentcf"]
        assert ranker.calls == world.metrics()["active_users"].sum() > 0


class _Fixed(ScoringRecommender):
    """Scores from a table, for testing the top-k bookkeeping alone."""

    def __init__(self, table: dict[str, list[float]], seen: dict[str, set[int]]) -> None:
        super().__init__()
        self.table = table
        self.item_ids = np.array([f"i{j}" for j in range(len(next(iter(table.values()))))])
        self._item_index = {item: j for j, item in enumerate(self.item_ids)}
        self._seen = seen

    def _scores(self, users):
        return np.array([self.table[u] for u in users])


_SCORE = st.sampled_from([-np.inf, np.nan, 0.0, 0.5, 1.0, np.inf])  # few values: many ties


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_users=st.integers(1, 7),
    n_items=st.integers(1, 9),
    k=st.integers(1, 11),
    chunk=st.integers(1, 4),
)
def test_top_k_lists_equal_a_full_sort_by_score_then_catalogue_position(
    data, n_users, n_items, k, chunk
):
    """Chunked, partitioned top-k against the definition: every allowed, unseen item
    scored above −∞ (NaN is never), sorted by score (high first) and then by catalogue
    position."""
    users = [f"u{n}" for n in range(n_users)]
    table = {u: data.draw(st.lists(_SCORE, min_size=n_items, max_size=n_items)) for u in users}
    seen = {u: data.draw(st.sets(st.integers(0, n_items - 1))) for u in users}
    candidates = data.draw(st.none() | st.lists(st.integers(0, n_items - 1), unique=True))
    exclude = data.draw(st.booleans())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender_base, "RECOMMEND_CHUNK", chunk)
        got = _Fixed(table, seen).recommend(
            users,
            k,
            exclude_seen=exclude,
            candidates=None if candidates is None else [f"i{j}" for j in candidates],
        )
    for u in users:
        keep = [
            j
            for j, score in enumerate(table[u])
            if score > -np.inf
            and (candidates is None or j in candidates)
            and not (exclude and j in seen[u])
        ]
        expected = sorted(keep, key=lambda j: (-table[u][j], j))[:k]
        assert got[u] == [f"i{j}" for j in expected]
