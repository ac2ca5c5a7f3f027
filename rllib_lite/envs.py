"""Example envs, registered with gymnasium on import of ``rllib_lite``.

* ``rllib_lite/MaskedPick-v0``: pick ``picks`` of ``n_items`` items with random values; an item
  can be picked once, so the action mask shrinks each step and an invalid pick raises. The best
  return is the sum of the top values. ``mask_in_obs=False`` moves the mask from the Dict
  observation to an ``action_masks()`` method (the sb3-contrib convention).
* ``rllib_lite/SlowCartPole-v1``: CartPole-v1 whose step costs ``step_cost_s`` (1 ms) more: a
  stand-in for the slow simulators of the applications. ``busy=True`` burns CPU for the time
  instead of sleeping.
"""
from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class MaskedPickEnv(gym.Env):
    """Pick distinct items to maximise their total value; picked items are masked out."""

    metadata = {"render_modes": []}

    def __init__(self, n_items: int = 8, picks: int = 3, mask_in_obs: bool = True) -> None:
        if not 1 <= picks <= n_items:
            raise ValueError(f"picks must be in [1, n_items={n_items}], got {picks}")
        self.n_items, self.picks, self.mask_in_obs = n_items, picks, mask_in_obs
        self.action_space = gym.spaces.Discrete(n_items)
        values = gym.spaces.Box(0.0, 1.0, shape=(n_items,), dtype=np.float32)
        if mask_in_obs:
            self.observation_space = gym.spaces.Dict(
                {"observation": values, "action_mask": gym.spaces.MultiBinary(n_items)}
            )
        else:
            self.observation_space = values
        self._values = np.zeros(n_items, dtype=np.float32)
        self._free = np.ones(n_items, dtype=bool)
        self._taken = 0

    def action_masks(self) -> np.ndarray:
        return self._free.copy()

    def _obs(self) -> Any:
        values = np.where(self._free, self._values, 0.0).astype(np.float32)
        if self.mask_in_obs:
            return {"observation": values, "action_mask": self._free.astype(np.int8)}
        return values

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self._values = self.np_random.random(self.n_items).astype(np.float32)
        self._free = np.ones(self.n_items, dtype=bool)
        self._taken = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict]:
        action = int(action)
        if not self._free[action]:
            raise ValueError(f"item {action} was already picked: the action mask forbids it")
        self._free[action] = False
        self._taken += 1
        reward = float(self._values[action])
        return self._obs(), reward, self._taken >= self.picks, False, {}

    def best_return(self) -> float:
        """The optimal return of the current episode (top ``picks`` values)."""
        return float(np.sort(self._values)[-self.picks:].sum())


class SlowCartPoleEnv(CartPoleEnv):
    """CartPole whose step takes ``step_cost_s`` extra seconds."""

    def __init__(self, step_cost_s: float = 0.001, busy: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_cost_s, self.busy = step_cost_s, busy

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.busy:
            end = time.perf_counter() + self.step_cost_s
            while time.perf_counter() < end:
                pass
        elif self.step_cost_s > 0:
            time.sleep(self.step_cost_s)
        return super().step(action)


def register_envs() -> None:
    """Register the example envs (idempotent)."""
    specs = {
        "rllib_lite/MaskedPick-v0": ("rllib_lite.envs:MaskedPickEnv", 100),
        "rllib_lite/SlowCartPole-v1": ("rllib_lite.envs:SlowCartPoleEnv", 500),
    }
    for env_id, (entry, limit) in specs.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=limit)


EXAMPLE_ENV_IDS = ("rllib_lite/MaskedPick-v0", "rllib_lite/SlowCartPole-v1")

register_envs()
