"""rllib_lite: DQN and PPO with invalid-action masking; rollout workers are runtime actors.

Importing the package registers its example envs with gymnasium (see ``rllib_lite.envs``).
"""
from __future__ import annotations

from . import envs as envs
from .algorithm import Algorithm as Algorithm
from .algorithm import CheckpointError as CheckpointError
from .config import ConfigError as ConfigError
from .dqn import DQN as DQN
from .dqn import DQNConfig as DQNConfig
from .masking import NoValidActionError as NoValidActionError
from .ppo import PPO as PPO
from .ppo import PPOConfig as PPOConfig
from .preprocessing import UnsupportedSpaceError as UnsupportedSpaceError
from .rollout import EnvError as EnvError
from .rollout import make_env as make_env

__all__ = [
    "DQN", "PPO", "Algorithm", "CheckpointError", "ConfigError", "DQNConfig", "EnvError", "NoValidActionError",
    "PPOConfig", "UnsupportedSpaceError", "envs", "make_env",
]
