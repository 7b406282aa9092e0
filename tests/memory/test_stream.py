import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from memory import (
    ForgettingConfig,
    HashingEmbedder,
    InMemoryStore,
    MemoryKind,
    MemoryRecord,
    MemoryStream,
    StreamConfig,
    retention,
)
from simulator.llm import LLMRuntime, ScriptedLLM


def obs(owner, i, text, importance=0.5, step=1):
    return MemoryRecord(
        id=f"{owner}-{i}",
        owner=owner,
        text=text,
        created=step,
        last_access=step,
        importance=importance,
    )


def stream(**config):
    llm = LLMRuntime(ScriptedLLM(seed=1))
    return MemoryStream(InMemoryStore(HashingEmbedder(128)), llm, StreamConfig(**config)), llm


def test_reinforced_theme_is_promoted_with_cited_evidence():
    s, llm = stream(promote_after=2, reinforce_threshold=0.9)
    same = "I watched a space opera and loved it"
    report = s.perceive([obs("ann", 0, same), obs("ann", 1, same), obs("bob", 0, same)], now=1)
    assert report.promoted == 0  # one reinforcement so far
    report = s.perceive([obs("ann", 2, same)], now=2)
    assert report.promoted == 1
    insight = [r for r in s.store.records("ann") if r.kind is MemoryKind.INSIGHT]
    assert len(insight) == 1 and insight[0].evidence == ("ann-0", "ann-1", "ann-2")
    assert not [r for r in s.store.records("bob") if r.kind is MemoryKind.INSIGHT]
    assert llm.stats.batches == 1  # one promotion batch, shared by every owner


def test_every_observation_reaches_long_term_memory():
    s, _ = stream()
    s.perceive(
        [obs("ann", i, f"film {i} was {w}") for i, w in enumerate(["odd", "fun", "sad"])], now=1
    )
    assert [r.id for r in s.store.records("ann")] == ["ann-0", "ann-1", "ann-2"]


def test_short_term_slots_are_bounded():
    s, _ = stream(short_term_slots=2, reinforce_threshold=0.99)
    s.perceive([obs("ann", i, f"unrelated topic number {i} {i * 'x'}") for i in range(5)], now=1)
    assert len(s.short_term("ann")) == 2


def test_reflection_runs_in_one_batch_when_the_budget_is_spent():
    s, llm = stream(reflect_budget=1.0)
    s.perceive(
        [
            obs("ann", 0, "loved a western", 0.9),
            obs("ann", 1, "hated a musical", 0.9),
            obs("bob", 0, "meh documentary", 0.2),
        ],
        now=3,
    )
    before = llm.stats.batches
    n = s.reflect(now=3)
    assert llm.stats.batches == before + 1
    reflections = [r for r in s.store.records("ann") if r.kind is MemoryKind.REFLECTION]
    assert n == len(reflections) >= 1
    assert all(set(r.evidence) <= {"ann-0", "ann-1"} and r.evidence for r in reflections)
    assert not [r for r in s.store.records("bob") if r.kind is MemoryKind.REFLECTION]
    assert s.reflect(now=4) == 0  # budget reset


def test_forgetting_spares_important_records():
    s, _ = stream()
    s.perceive(
        [obs("ann", 0, "trivial", 0.0, step=0), obs("ann", 1, "defining", 1.0, step=0)], now=0
    )
    assert s.forget(now=200) == 1
    (hit,) = s.recall(["ann"], ["defining trivial"], 5, now=200)
    assert [h.record.id for h in hit] == ["ann-1"]
    gone = [r for r in s.store.records("ann") if r.forgotten]
    assert [r.id for r in gone] == ["ann-0"]


def test_sensory_llm_pass_rewrites_and_scores_in_one_batch():
    s, llm = stream(sensory="llm", promote_after=100)
    s.perceive([obs("ann", i, "a long rambling observation " * 5) for i in range(4)], now=1)
    assert llm.stats.batches == 1
    records = s.store.records("ann")
    assert all(len(r.text) <= 160 and 0 <= r.importance <= 1 for r in records)


@given(
    st.lists(st.integers(0, 500), min_size=2, max_size=20),
    st.floats(0, 1),
    st.integers(0, 1000),
)
def test_retention_falls_with_age_and_rises_with_importance(last, importance, now):
    config = ForgettingConfig()
    last = np.array(last, dtype=float)
    r = retention(now, last, np.full(len(last), importance), config)
    assert np.all((r > 0) & (r <= 1))
    order = np.argsort(last)  # older access first
    assert np.all(np.diff(r[order]) >= -1e-12)
    more = retention(now, last, np.full(len(last), min(1.0, importance + 0.1)), config)
    assert np.all(more >= r - 1e-12)
