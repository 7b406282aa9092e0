"""Contract tests every recommender must pass, and a ``check_recommender`` for users.

A new recommender's test is one class line::

    class TestMyRec(RecommenderContract):
        make = staticmethod(lambda seed: MyRec(seed=seed))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from simulator.dataset import Dataset
from simulator.recommenders.base import Recommender


def contract_dataset(n_users: int = 12, n_items: int = 30, seed: int = 0) -> Dataset:
    """A small dataset with a popularity skew, built without any loader."""
    rng = np.random.default_rng(seed)
    users = [f"u{i}" for i in range(n_users)]
    items = [f"i{j}" for j in range(n_items)]
    weights = 1.0 / np.arange(1, n_items + 1)
    rows = []
    for t, user in enumerate(users):
        for item in rng.choice(items, size=5, replace=False, p=weights / weights.sum()):
            rows.append((user, str(item), t, float(rng.integers(1, 6))))
    return Dataset(
        name="contract",
        users=pd.DataFrame({"user_id": users}),
        items=pd.DataFrame(
            {
                "item_id": items,
                "title": [f"Item {j}" for j in range(n_items)],
                "genres": [(f"g{j % 4}",) for j in range(n_items)],
                "description": ["" for _ in items],
            }
        ),
        interactions=pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"]),
    )


class RecommenderContract:
    """Mixin of pytest tests; subclasses set ``make(seed) -> Recommender``."""

    make: Callable[[int], Recommender]

    def _fitted(self, seed: int = 0) -> tuple[Recommender, Dataset]:
        data = contract_dataset()
        rec = type(self).make(seed)
        rec.fit(data)
        return rec, data

    def test_meets_protocol(self) -> None:
        assert isinstance(type(self).make(0), Recommender)

    def test_k_unique_items_from_catalogue(self) -> None:
        rec, data = self._fitted()
        out = rec.recommend(data.user_ids, 7)
        assert set(out) == set(data.user_ids)
        for items in out.values():
            assert len(items) == 7
            assert len(set(items)) == 7
            assert set(items) <= set(data.item_ids)

    def test_excludes_seen_items(self) -> None:
        rec, data = self._fitted()
        seen = data.interactions.groupby("user_id")["item_id"].apply(set)
        for user, items in rec.recommend(data.user_ids, 10).items():
            assert not set(items) & seen[user]

    def test_can_include_seen_items(self) -> None:
        rec, data = self._fitted()
        n = len(data.item_ids)
        for items in rec.recommend(data.user_ids[:2], n, exclude_seen=False).values():
            assert len(items) == n

    def test_unknown_user_gets_a_list(self) -> None:
        rec, _ = self._fitted()
        out = rec.recommend(["never-seen-user"], 5)
        assert len(out["never-seen-user"]) == 5

    def test_k_beyond_catalogue_returns_what_is_left(self) -> None:
        rec, data = self._fitted()
        user = data.user_ids[0]
        n_seen = data.interactions["user_id"].eq(user).sum()
        out = rec.recommend([user], len(data.item_ids) + 5)
        assert len(out[user]) == len(data.item_ids) - n_seen

    def test_candidates_restrict_the_list(self) -> None:
        rec, data = self._fitted()
        pool = data.item_ids[-8:]
        for items in rec.recommend(data.user_ids, 3, candidates=pool).values():
            assert set(items) <= set(pool)

    def test_same_seed_same_output(self) -> None:
        a, data = self._fitted(seed=3)
        b, _ = self._fitted(seed=3)
        assert a.recommend(data.user_ids, 5) == b.recommend(data.user_ids, 5)

    def test_save_and_load_round_trip(self) -> None:
        import tempfile

        rec, data = self._fitted(seed=5)
        with tempfile.TemporaryDirectory() as folder:
            rec.save(folder)
            copy = type(self).make(5)
            copy.load(folder)
        users = [*data.user_ids, "never-seen-user"]
        assert copy.recommend(users, 6) == rec.recommend(users, 6)

    def test_update_marks_items_seen(self) -> None:
        rec, data = self._fitted()
        user = data.user_ids[0]
        first = rec.recommend([user], 3)[user]
        rec.update(
            pd.DataFrame(
                {
                    "user_id": [user] * 3,
                    "item_id": first,
                    "timestamp": [99] * 3,
                    "rating": [5.0] * 3,
                }
            )
        )
        assert not set(rec.recommend([user], 3)[user]) & set(first)


SAVE_LOAD_HINT = (
    "; a ScoringRecommender that learns arrays in _fit returns them from _state() and "
    "restores them in _set_state(state), so that save and load keep them"
)


def check_recommender(make: Callable[[int], Recommender]) -> None:
    """Run the whole contract on a factory; raises ``AssertionError`` on the first breach.

    For users who plug in their own recommender and want to check it without pytest.
    """
    suite = type("Check", (RecommenderContract,), {"make": staticmethod(make)})()
    for name in sorted(dir(suite)):
        if not name.startswith("test_"):
            continue
        try:
            getattr(suite, name)()
        except AssertionError:
            raise
        except Exception as exc:  # the recommender's own error, reported as a breach
            hint = SAVE_LOAD_HINT if name == "test_save_and_load_round_trip" else ""
            raise AssertionError(f"{name}: {type(exc).__name__}: {exc}{hint}") from exc


class LLMBackendContract:
    """Mixin of pytest tests every LLM backend passes; subclasses set ``make() -> LLM``.

    Backends whose choice probabilities come from real log-probabilities set
    ``exact_choices = True``; the others still return a distribution over the options.
    """

    exact_choices = False

    def make(self):  # returns the backend under test
        raise NotImplementedError

    @staticmethod
    def _requests():
        from pydantic import BaseModel, Field

        from simulator.types import ChatMessage, LLMRequest

        class Verdict(BaseModel):
            liked: bool
            stars: int = Field(ge=1, le=5)

        system = ChatMessage("system", "You rate films. Be brief.")
        return [
            LLMRequest(
                messages=(system, ChatMessage("user", "Did you like Alien?")),
                schema=Verdict,
                max_tokens=40,
            ),
            LLMRequest(
                messages=(system, ChatMessage("user", "Rate Heat from 1 to 5.")),
                choices=("1", "2", "3", "4", "5"),
            ),
            LLMRequest(messages=(system, ChatMessage("user", "Say hello.")), max_tokens=8),
        ], Verdict

    def test_meets_protocol(self) -> None:
        from simulator.types import LLM

        backend = self.make()
        assert isinstance(backend, LLM)
        assert backend.name and backend.model

    def test_answers_every_request_in_order(self) -> None:
        from simulator.types import LLMResponse

        requests, _ = self._requests()
        answers = self.make().generate(requests * 2)
        assert len(answers) == 6
        assert all(isinstance(a, LLMResponse) for a in answers)
        assert answers[1].choice_probs is not None and answers[4].choice_probs is not None
        assert answers[0].choice_probs is None and answers[2].choice_probs is None

    def test_choice_probabilities_form_a_distribution(self) -> None:
        requests, _ = self._requests()
        (answer,) = self.make().generate([requests[1]])
        probs = answer.choice_probs
        assert set(probs) == {"1", "2", "3", "4", "5"}
        assert all(p >= 0 for p in probs.values())
        assert abs(sum(probs.values()) - 1.0) < 1e-6
        assert answer.text in probs

    def test_counts_tokens(self) -> None:
        requests, _ = self._requests()
        answers = self.make().generate(requests)
        assert all(a.prompt_tokens > 0 for a in answers)

    def test_structured_answers_pass_the_runtime(self) -> None:
        from simulator.llm.runtime import LLMRuntime

        requests, schema = self._requests()
        runtime = LLMRuntime(self.make())
        (answer,) = runtime.generate([requests[0]])
        assert answer.parsed is None or isinstance(answer.parsed, schema)
        assert (answer.parsed is None) == (answer.error is not None)

    def test_empty_batch_is_empty(self) -> None:
        assert self.make().generate([]) == []
