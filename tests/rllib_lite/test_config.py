"""Config validation and unsupported inputs: one clear error naming the problem."""
from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from rllib_lite import PPO, ConfigError, DQNConfig, PPOConfig, UnsupportedSpaceError


@pytest.mark.parametrize("cls, field, value", [
    (PPOConfig, "clip_range", 1.5), (PPOConfig, "gae_lambda", -0.1), (PPOConfig, "num_epochs", 0),
    (PPOConfig, "lr", 0.0), (PPOConfig, "num_rollout_workers", -1), (PPOConfig, "activation", "gelu"),
    (DQNConfig, "tau", 0.0), (DQNConfig, "n_step", 0), (DQNConfig, "epsilon_final", 2.0),
    (DQNConfig, "buffer_size", 10), (DQNConfig, "gamma", 1.5), (PPOConfig, "flush_denormals", "yes"),
])
def test_out_of_range_field_is_named(cls, field, value):
    with pytest.raises(ConfigError, match=rf"{cls.__name__}\.{field} "):
        cls(**{field: value})


@pytest.mark.parametrize("cls, field, value", [
    (PPOConfig, "lr", float("inf")), (DQNConfig, "max_grad_norm", float("inf")),
    (PPOConfig, "ent_coef", float("inf")), (PPOConfig, "target_kl", float("inf")),
    (DQNConfig, "schedule_steps", float("inf")), (PPOConfig, "seed", 2**64),
    (DQNConfig, "num_learner_threads", 100_000), (PPOConfig, "metrics_window", 2**63),
])
def test_fields_with_no_upper_bound_still_refuse_what_breaks_training(cls, field, value):
    # the library accepted these (only the command line refused them): lr=inf trained to NaN
    # weights, a seed of 2**64 overflowed in torch.manual_seed, 100000 learner threads crashed
    # the process (SIGSEGV), a metrics_window of 2**63 was deque's OverflowError (CLI: internal
    # error, exit 1)
    with pytest.raises(ConfigError, match=rf"{cls.__name__}\.{field} "):
        cls(**{field: value})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PPOConfig().lr = 1.0


class BoxActions(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Box(-1, 1, (1,))


class TupleObs(gym.Env):
    observation_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))
    action_space = gym.spaces.Discrete(2)


@pytest.mark.parametrize("env, message", [
    (lambda cfg: BoxActions(), "action space Box"),
    (lambda cfg: TupleObs(), "observation space: Tuple is not supported"),
])
def test_unsupported_spaces_are_rejected_by_name(env, message):
    with pytest.raises(UnsupportedSpaceError, match=message):
        PPO(PPOConfig(env=env))


class DictObs(gym.Env):
    """Discrete + Box inside a Dict, with a mask key."""

    observation_space = gym.spaces.Dict({
        "pos": gym.spaces.Discrete(3), "vel": gym.spaces.Box(-1, 1, (2,), np.float32),
        "action_mask": gym.spaces.MultiBinary(2)})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return {"pos": self.t % 3, "vel": np.zeros(2, np.float32), "action_mask": np.array([1, self.t % 2], np.int8)}

    def step(self, action):
        assert action == 0 or self.t % 2 == 1, "masked action taken"
        self.t += 1
        return self._obs(), 1.0, self.t >= 5, False, {}


def test_dict_observations_with_discrete_and_box_leaves_flatten_for_the_mlp():
    algo = PPO(PPOConfig(env=lambda cfg: DictObs(), num_envs_per_worker=2, rollout_steps=8,
                         minibatch_size=16, num_epochs=1))
    assert algo.preprocessor.flat_dim == 3 + 2
    algo.train()
    algo.stop()


class DictNet(torch.nn.Module):
    """A user model that reads the Dict observation by key."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(5, 3)

    def forward(self, obs):
        out = self.body(torch.cat([obs["pos"], obs["vel"]], dim=-1))  # (batch, 3)
        return out[:, :2], out[:, 2]


def test_user_model_receives_the_dict_observation():
    algo = PPO(PPOConfig(env=lambda cfg: DictObs(), model=DictNet(), num_envs_per_worker=2,
                         rollout_steps=8, minibatch_size=16, num_epochs=1))
    algo.train()
    assert algo.evaluate(2)["episode_return_mean"] == 5.0
    algo.stop()


def test_discrete_observations_are_one_hot_encoded():
    from rllib_lite import DQN

    algo = DQN(DQNConfig(env="FrozenLake-v1", env_config={"is_slippery": False}, hidden_sizes=(16,),
                         learning_starts=32, train_freq=32, gradient_steps=2))
    assert algo.preprocessor.flat_dim == 16
    x, mask = algo.preprocessor(5)
    assert x.tolist() == [0.0] * 5 + [1.0] + [0.0] * 10 and mask.all()
    algo.train()
    algo.train()
    algo.stop()
