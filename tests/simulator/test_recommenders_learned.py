"""Learned recommenders: the shared contract, pickle-free save/load, and an offline check
that each beats popularity on MovieLens-100K."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from memory.embedders import make_embedder
from simulator.dataset import Dataset
from simulator.recommenders import MostPopularRecommender
from simulator.recommenders.content import ContentRecommender, item_texts
from simulator.recommenders.implicit_mf import ALSConfig, ALSRecommender, BPRConfig, BPRRecommender
from simulator.recommenders.knn import ItemKNNRecommender
from simulator.recommenders.sasrec import SASRecConfig, SASRecRecommender, text_projection
from simulator.testing import RecommenderContract, contract_dataset

TINY_SASREC = SASRecConfig(max_len=8, hidden=16, epochs=2)


class TestItemKNN(RecommenderContract):
    make = staticmethod(lambda seed: ItemKNNRecommender(seed=seed))


class TestALS(RecommenderContract):
    make = staticmethod(lambda seed: ALSRecommender(ALSConfig(factors=8), seed=seed))


class TestBPR(RecommenderContract):
    make = staticmethod(lambda seed: BPRRecommender(BPRConfig(factors=8), seed=seed))


class TestContent(RecommenderContract):
    make = staticmethod(lambda seed: ContentRecommender(seed=seed))


class TestSASRec(RecommenderContract):
    make = staticmethod(lambda seed: SASRecRecommender(TINY_SASREC, seed=seed))


class TestTextInitialisedSASRec(RecommenderContract):
    make = staticmethod(
        lambda seed: SASRecRecommender(
            TINY_SASREC.model_copy(update={"text_init": "hashing"}), seed=seed
        )
    )


def test_text_projection_is_the_scaled_leading_principal_components():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 12)) @ rng.normal(size=(12, 12))
    out = text_projection(x, 4)
    # sklearn's PCA scores, up to each component's sign, scaled to unit variance overall.
    scores = PCA(n_components=4).fit_transform(x)
    scores /= scores.std()
    signs = np.sign((out * scores).sum(axis=0))
    np.testing.assert_allclose(out, scores * signs, atol=1e-5)
    wide = text_projection(x[:3], 8)  # three items: two components carry everything
    assert wide.shape == (3, 8) and np.allclose(wide[:, 3:], 0)


def test_sasrec_starts_from_the_items_text_when_asked():
    import torch

    data = contract_dataset()
    config = TINY_SASREC.model_copy(update={"text_init": "hashing", "learning_rate": 1e-12})
    rec = SASRecRecommender(config, seed=0)
    rec.fit(data)
    vectors = make_embedder("hashing").embed(item_texts(data.items))
    expected = text_projection(np.asarray(vectors), config.hidden)
    # A step of 1e-12 leaves the start where it was: the text's projection.
    got = rec._net.item_emb.weight[1:].detach()
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)
    plain = SASRecRecommender(TINY_SASREC.model_copy(update={"learning_rate": 1e-12}), seed=0)
    plain.fit(data)
    assert not torch.allclose(plain._net.item_emb.weight[1:], got, atol=1e-2)


FACTORIES = {
    "item-knn": lambda: ItemKNNRecommender(seed=1),
    "als": lambda: ALSRecommender(ALSConfig(factors=8), seed=1),
    "bpr": lambda: BPRRecommender(BPRConfig(factors=8), seed=1),
    "content": lambda: ContentRecommender(seed=1),
    "sasrec": lambda: SASRecRecommender(TINY_SASREC, seed=1),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_save_load_round_trip(name, tmp_path):
    data = contract_dataset()
    rec = FACTORIES[name]()
    rec.fit(data)
    users = [*data.user_ids, "newcomer"]
    rec.save(tmp_path / "model")
    loaded = FACTORIES[name]().load(tmp_path / "model")
    assert loaded.config == rec.config
    assert loaded.recommend(users, 8) == rec.recommend(users, 8)
    assert loaded.recommend(users, 8, exclude_seen=False) == rec.recommend(
        users, 8, exclude_seen=False
    )
    # The loaded model keeps learning the same way the original does.
    step = pd.DataFrame(
        {"user_id": ["u0", "newcomer"], "item_id": ["i29", "i28"], "timestamp": [99, 99],
         "rating": [5.0, 5.0]}
    )  # fmt: skip
    rec.update(step)
    loaded.update(step)
    assert loaded.recommend(users, 8) == rec.recommend(users, 8)


def test_load_refuses_another_class(tmp_path):
    rec = ItemKNNRecommender()
    rec.fit(contract_dataset())
    rec.save(tmp_path / "knn")
    with pytest.raises(ValueError, match="ItemKNNRecommender"):
        ALSRecommender().load(tmp_path / "knn")


def test_content_scores_cold_start_items():
    data = contract_dataset()
    rec = ContentRecommender()
    rec.fit(data)
    fresh = [i for i in data.item_ids if i not in set(data.interactions["item_id"])]
    assert fresh, "the contract dataset should leave some items without interactions"
    user = data.user_ids[0]
    assert rec.recommend([user], 3, candidates=fresh)[user]


def test_als_update_moves_the_user():
    data = contract_dataset()
    rec = ALSRecommender(ALSConfig(factors=8), seed=0)
    rec.fit(data)
    rec.update(
        pd.DataFrame(
            {
                "user_id": ["late"] * 2,
                "item_id": ["i0", "i1"],
                "timestamp": [1, 2],
                "rating": [5.0, 5.0],
            }
        )
    )
    # The newcomer gets solved factors (not popularity) without refitting the items.
    factors = rec._user_factors[rec._user_index["late"]]
    assert np.abs(factors).sum() > 0


def _leave_last_out(data: Dataset) -> tuple[Dataset, dict[str, str]]:
    inter = data.interactions.sort_values(["user_id", "timestamp"], kind="stable")
    last = inter.groupby("user_id").tail(1)
    train = inter.drop(last.index).reset_index(drop=True)
    split = Dataset(data.name, data.users, data.items, train)
    return split, dict(zip(last["user_id"], last["item_id"], strict=True))


def _ndcg_at_10(rec, users: list[str], target: dict[str, str]) -> float:
    slates = rec.recommend(users, 10)
    gains = [
        1.0 / np.log2(slates[u].index(target[u]) + 2) if target[u] in slates[u] else 0.0
        for u in users
    ]
    return float(np.mean(gains))


@pytest.mark.data
def test_learned_recommenders_beat_popularity_on_ml100k(shared_data):
    from scenarios.datasets import load_movielens_100k

    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip("ml-100k not in the shared data folder")
    split, target = _leave_last_out(load_movielens_100k(folder))
    rng = np.random.default_rng(0)
    users = sorted(rng.choice(sorted(target), size=300, replace=False).tolist())
    models = {
        "most-popular": MostPopularRecommender(),
        "item-knn": ItemKNNRecommender(),
        "als": ALSRecommender(seed=0),
        "bpr": BPRRecommender(seed=0),
        "sasrec": SASRecRecommender(seed=0),  # defaults: about 45 s on 2 busy CPU cores
    }
    scores = {}
    for name, rec in models.items():
        rec.fit(split)
        scores[name] = _ndcg_at_10(rec, users, target)
    floor = scores.pop("most-popular")
    assert all(s > floor for s in scores.values()), (floor, scores)
