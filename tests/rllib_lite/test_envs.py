"""The example envs pass gymnasium's env checker and behave as documented."""
from __future__ import annotations

import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rllib_lite  # noqa: F401  (registers the envs)
from rllib_lite.envs import EXAMPLE_ENV_IDS


@pytest.mark.parametrize("env_id", EXAMPLE_ENV_IDS)
def test_example_env_passes_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


def test_masked_pick_without_mask_in_obs_passes_check_env():
    check_env(gym.make("rllib_lite/MaskedPick-v0", mask_in_obs=False).unwrapped, skip_render_check=True)


def test_masked_pick_refuses_a_masked_action():
    env = gym.make("rllib_lite/MaskedPick-v0").unwrapped
    env.reset(seed=0)
    env.step(2)
    with pytest.raises(ValueError, match="already picked"):
        env.step(2)


def test_slow_cartpole_costs_about_a_millisecond_per_step():
    env = gym.make("rllib_lite/SlowCartPole-v1")
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(20):
        _, _, term, trunc, _ = env.step(0)
        if term or trunc:
            env.reset()
    assert time.perf_counter() - t0 >= 0.02
