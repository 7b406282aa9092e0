"""The Gymnasium environments: the API contract, the reward, the observation, and one
LLM batch per phase across a vector environment's worlds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from scenarios import load_scenario
from simulator.compose import open_world
from simulator.errors import ScenarioError
from simulator.gym import BatchGate, RecworldEnv, RecworldVectorEnv
from simulator.llm.scripted import ScriptedLLM
from simulator.types import Reaction

FAST = {
    "llm": {"backend": "scripted", "decisions": "choice"},
    "memory": {"backend": "in-memory", "embedder": "hashing"},
}


class CountingLLM(ScriptedLLM):
    """The scripted backend, counting the batches it is sent."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def generate(self, requests):
        self.calls += 1
        return super().generate(requests)


def test_check_env_passes():
    env = RecworldEnv("quickstart", **FAST)
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_with_gymnasium():
    env = gym.make("simulator.gym:recworld/Slates-v0", scenario="quickstart", **FAST)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    env.close()
    vec = gym.make_vec("recworld/Slates-v0", num_envs=2, scenario="quickstart", **FAST)
    obs, _ = vec.reset(seed=1)
    assert obs["active"].shape[0] == 2
    vec.close()


def _random(space, seed):
    """A seeded random action: item indices drawn uniformly."""
    high = space.nvec if hasattr(space, "nvec") else space.high + 1
    return np.random.default_rng(seed).integers(high)


def _centred(rating, low=1.0, high=5.0):
    return 0.0 if rating is None else (rating - (low + high) / 2) / ((high - low) / 2)


def test_an_agent_playing_most_popular_reproduces_the_most_popular_run():
    """The env's world, served the slates the scenario's own recommender would give,
    logs what the scenario's run logs; the reward is computed from that run's log."""
    config = load_scenario("quickstart", **FAST)
    env = RecworldEnv(config)
    obs, _ = env.reset(seed=11)
    reference = open_world(config, seed=11)
    recommender = reference.arms["most-popular"]
    slate = config.settings.slate_size * config.settings.pages
    index = {item: i for i, item in enumerate(env.item_ids)}
    done = False
    while not done:
        visitors = [u.user_id for u in reference.visitors(reference.steps + 1)]
        assert sorted(visitors) == sorted(np.asarray(env.user_ids)[obs["active"] == 1])
        lists = recommender.recommend(visitors, slate)
        action = np.zeros(env.action_space.shape, dtype=np.int64)
        for user, items in lists.items():
            row = env.user_ids.index(user)
            action[row, : len(items)] = [index[i] for i in items]
            action[row, len(items) :] = index[items[0]]  # a repeat is dropped, not shown
        obs, reward, terminated, truncated, info = env.step(action)
        reference.step()
        ours = [
            (r.user_id, r.item_id, r.page, r.position, r.action, r.rating)
            for r in env.world.last_interactions
        ]
        theirs = [
            (r.user_id, r.item_id, r.page, r.position, r.action, r.rating)
            for r in reference.last_interactions
        ]
        assert ours == theirs
        watches = [r for r in reference.last_interactions if r.action is Reaction.WATCH]
        expected = sum(1 + 0.5 * _centred(r.rating) for r in watches)
        assert reward == pytest.approx(expected)
        assert info["user_rewards"].sum() == pytest.approx(expected)
        assert info["watches"] == len(watches)
        # Feedback per slot: each exposure at its item's first slot in the action row.
        assert info["shown"].sum() == len(reference.last_interactions)
        assert info["watched"].sum() == len(watches)
        for r in watches:
            row = env.user_ids.index(r.user_id)
            col = (r.page - 1) * config.settings.slate_size + r.position - 1
            assert action[row, col] == index[r.item_id] and info["watched"][row, col]
            assert info["rated"][row, col] == (r.rating is not None)
            if r.rating is not None:
                assert info["rating"][row, col] == r.rating
        assert info["rated"].sum() == sum(r.rating is not None for r in watches)
        done = terminated or truncated
    assert truncated and not terminated
    assert env.world.steps == config.settings.steps
    with pytest.raises(RuntimeError, match="reset"):
        env.step(action)
    env.close()
    reference.close()


def test_the_observation_summarises_each_users_latest_items():
    config = load_scenario("quickstart", **FAST)
    env = RecworldEnv(config, history=4)
    obs, _ = env.reset(seed=5)
    data = env.world.dataset.interactions.sort_values("timestamp", kind="stable")
    index = {item: i for i, item in enumerate(env.item_ids)}
    user = env.user_ids[0]
    latest = [index[i] for i in data[data["user_id"] == user]["item_id"]][-4:]
    assert obs["recent"][0].tolist() == latest
    np.testing.assert_allclose(
        obs["history"][0], env.item_features[latest].mean(axis=0), rtol=1e-5, atol=1e-6
    )
    # After a step, each watcher's watches are their latest items, in slate order.
    obs, *_ = env.step(_random(env.action_space, 0))
    watched: dict[str, list[int]] = {}
    for row in env.world.last_interactions:
        if row.action is Reaction.WATCH:
            watched.setdefault(row.user_id, []).append(index[row.item_id])
    assert watched
    for user, items in watched.items():
        row = env.user_ids.index(user)
        assert obs["recent"][row, -len(items[-4:]) :].tolist() == items[-4:]
    profile = env.world.users.profile(env.user_ids[0])
    levels = {"low": 0.0, "medium": 0.5, "high": 1.0}
    assert obs["user"][0, 1] == levels[str(profile.traits.activity)]
    env.close()


def test_terminated_when_every_user_has_left():
    env = RecworldEnv("quickstart", steps=60, churn_after=1, **FAST)
    env.reset(seed=2)
    action = np.zeros(env.action_space.shape, dtype=np.int64)  # one item, over and over
    for _ in range(60):
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert obs["user"][:, -1].tolist() == [1.0] * len(env.user_ids)
    assert obs["active"].sum() == 0
    env.close()


def test_refusals():
    with pytest.raises(ScenarioError, match="arms"):
        RecworldEnv(
            "quickstart",
            arms=[{"name": "random"}, {"name": "most-popular"}],
            **FAST,
        )
    env = RecworldEnv("quickstart", **FAST)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((2, 2), dtype=np.int64))
    env.close()


def test_reset_replays_an_episode_exactly():
    env = RecworldEnv("quickstart", **FAST)
    actions = [_random(env.action_space, k) for k in range(3)]

    def episode():
        env.reset(seed=9)
        return [env.step(a)[1] for a in actions]

    assert episode() == episode()
    env.close()


def test_vector_env_sends_one_batch_per_phase_for_all_its_worlds():
    backend = CountingLLM(seed=3)
    vec = RecworldVectorEnv(3, "quickstart", backend=backend, **FAST)
    vec.reset(seed=20)
    actions = [_random(vec.action_space, k) for k in range(3)]
    rewards = []
    for action in actions:
        before = backend.calls
        _, reward, *_ = vec.step(action)
        per_world = [env.world.last.llm_batches for env in vec.envs]
        # Each joined batch takes one call from every world still stepping, so the server
        # sees as many batches as the busiest world sends, not their sum.
        assert backend.calls - before == max(per_world)
        assert sum(per_world) > max(per_world)
        rewards.append(reward)
    vec.close()
    # The same worlds stepped one by one give the same rewards: joining changes no answer.
    for k in range(3):
        env = RecworldEnv("quickstart", backend=ScriptedLLM(seed=3), **FAST)
        env.reset(seed=20 + k)
        for step, action in enumerate(actions):
            assert env.step(action[k])[1] == rewards[step][k]
        env.close()


def test_vector_env_autoresets_on_the_next_step():
    vec = RecworldVectorEnv(2, "quickstart", backend=ScriptedLLM(seed=0), steps=2, **FAST)
    vec.reset(seed=0)
    action = _random(vec.action_space, 0)
    vec.step(action)
    _, _, _, truncated, _ = vec.step(action)
    assert truncated.all()
    _, reward, terminated, truncated, _ = vec.step(action)  # the reset step
    assert reward.tolist() == [0.0, 0.0] and not truncated.any() and not terminated.any()
    assert all(env.world.steps == 0 for env in vec.envs)
    vec.close()


def test_vector_reset_without_a_seed_keeps_its_distinct_first_worlds():
    vec = RecworldVectorEnv(2, "quickstart", backend=ScriptedLLM(seed=0), **FAST)
    built = [env.world for env in vec.envs]
    obs, _ = vec.reset()
    assert [env.world for env in vec.envs] == built, "the worlds built first are kept"
    assert [env.world.seed for env in vec.envs] == [7, 8]  # the scenario's seed + k
    assert not np.array_equal(obs["active"][0], obs["active"][1])
    vec.close()


class ClosableLLM(ScriptedLLM):
    closed = False

    def generate(self, requests):
        assert not self.closed, "asked after it was closed"
        return super().generate(requests)

    def close(self):
        self.closed = True


def test_a_given_backend_serves_every_episode_and_stays_open():
    backend = ClosableLLM(seed=1)
    env = RecworldEnv("quickstart", backend=backend, **FAST)
    for seed in (3, 4):  # new worlds, each closed when the next episode begins
        env.reset(seed=seed)
        env.step(_random(env.action_space, seed))
    env.close()
    assert not backend.closed


def _request(text):
    from simulator.types import ChatMessage, LLMRequest

    return LLMRequest(messages=(ChatMessage("user", text),))


def test_the_gate_goes_on_when_a_world_fails_and_reports_its_error():
    backend = CountingLLM(seed=0)
    gate = BatchGate(backend)
    asked: list[int] = []

    def failing():
        gate.member(0).generate([_request("a")])
        raise ValueError("world 0 failed")

    def going_on():
        for n in range(3):
            asked.append(len(gate.member(1).generate([_request(f"b{n}")])))
        return "done"

    with pytest.raises(ValueError, match="world 0 failed"):
        gate.run([(0, failing), (1, going_on)])
    assert asked == [1, 1, 1]
    assert backend.calls == 3  # the first batch joined both worlds' calls


def test_an_interrupted_step_leaves_the_gate_refusing(monkeypatch):
    import threading

    gate = BatchGate(ScriptedLLM(seed=0))
    release = threading.Event()

    def interrupted(self, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "join", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gate.run([(0, lambda: release.wait(5))])
    monkeypatch.undo()
    release.set()
    with pytest.raises(RuntimeError, match="interrupted"):
        gate.run([(0, lambda: 1)])
