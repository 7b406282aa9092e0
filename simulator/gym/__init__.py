"""Gymnasium environments over the simulated population: the agent is the recommender.

``RecworldEnv`` is one world; ``RecworldVectorEnv`` steps several and joins their LLM
calls into one batch per phase (``BatchGate``). ``gymnasium.make("recworld/Slates-v0")``
builds the single environment.
"""

import gymnasium as gym

from simulator.gym.env import USER_FEATURES, RecworldEnv, SlateAgent
from simulator.gym.gate import BatchGate, GateMember
from simulator.gym.vector import RecworldVectorEnv

__all__ = [
    "USER_FEATURES",
    "BatchGate",
    "GateMember",
    "RecworldEnv",
    "RecworldVectorEnv",
    "SlateAgent",
]

if "recworld/Slates-v0" not in gym.registry:
    gym.register(
        id="recworld/Slates-v0",
        entry_point="simulator.gym.env:RecworldEnv",
        vector_entry_point="simulator.gym.vector:RecworldVectorEnv",
        disable_env_checker=False,
    )
