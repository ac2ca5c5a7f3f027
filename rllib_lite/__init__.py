"""rllib_lite: DQN and PPO with invalid-action masking; rollout workers are runtime actors.

Importing the package registers its example envs with gymnasium (see ``rllib_lite.envs``). The
configs and ``ConfigError`` come without torch; the algorithms and the rest are imported (with
torch) on first use, so ``python -m rllib_lite --help`` and its argument errors answer at once.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import envs as envs
from .config import ConfigError as ConfigError
from .config import DQNConfig as DQNConfig
from .config import PPOConfig as PPOConfig

if TYPE_CHECKING:
    from .algorithm import Algorithm as Algorithm
    from .algorithm import CheckpointError as CheckpointError
    from .dqn import DQN as DQN
    from .masking import NoValidActionError as NoValidActionError
    from .policies import ModelOutputError as ModelOutputError
    from .ppo import PPO as PPO
    from .preprocessing import UnsupportedSpaceError as UnsupportedSpaceError
    from .rollout import EnvError as EnvError
    from .rollout import EnvStepError as EnvStepError
    from .rollout import make_env as make_env

# name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "Algorithm": "algorithm", "CheckpointError": "algorithm", "DQN": "dqn", "PPO": "ppo",
    "NoValidActionError": "masking", "UnsupportedSpaceError": "preprocessing", "EnvError": "rollout",
    "EnvStepError": "rollout", "ModelOutputError": "policies", "make_env": "rollout",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "DQN", "PPO", "Algorithm", "CheckpointError", "ConfigError", "DQNConfig", "EnvError", "EnvStepError",
    "ModelOutputError", "NoValidActionError", "PPOConfig", "UnsupportedSpaceError", "envs", "make_env",
]
