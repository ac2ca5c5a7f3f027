"""Masked actions are never taken, in the sampling helpers, in both policies and in training."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.masking import masked_entropy, masked_log_probs, random_valid_actions, sample_categorical
from rllib_lite.models import ActorCritic, QNetwork
from rllib_lite.policies import DQNPolicy, ModelOutputError, PPOPolicy


@st.composite
def logits_and_masks(draw):
    batch = draw(st.integers(1, 8))
    actions = draw(st.integers(1, 9))
    logits = draw(arrays(np.float32, (batch, actions), elements=st.floats(-30, 30, width=32)))
    mask = draw(arrays(np.bool_, (batch, actions)))
    mask[np.arange(batch), draw(st.integers(0, actions - 1))] = True  # at least one valid
    return logits, mask


@settings(max_examples=200, deadline=None)
@given(logits_and_masks(), st.integers(0, 2**31))
def test_sampling_never_picks_a_masked_action(lm, seed):
    logits, mask = lm
    rng = np.random.default_rng(seed)
    logp = masked_log_probs(torch.from_numpy(logits), torch.from_numpy(mask))
    probs = logp.exp().numpy()
    assert np.all(probs[~mask] == 0.0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    for _ in range(20):
        a = sample_categorical(probs, rng)
        assert mask[np.arange(len(a)), a].all()
        b = random_valid_actions(mask, rng)
        assert mask[np.arange(len(b)), b].all()
    ent = masked_entropy(logp, torch.from_numpy(mask))
    assert torch.isfinite(ent).all() and (ent >= -1e-5).all()


@settings(max_examples=60, deadline=None)
@given(logits_and_masks(), st.integers(0, 2**31), st.floats(0, 1))
def test_policies_never_act_masked(lm, seed, eps):
    _, mask = lm
    batch, actions = mask.shape
    torch.manual_seed(seed % 1000)
    rng = np.random.default_rng(seed)
    x = torch.randn(batch, 3)
    ppo = PPOPolicy(ActorCritic(3, actions, (8,), "tanh"))
    dqn = DQNPolicy(QNetwork(3, actions, (8,), "relu", dueling=True))
    dqn.configure(epsilon=eps)
    for explore in (True, False):
        for policy in (ppo, dqn):
            for obs in (x, x.numpy()):  # the torch path and the numpy one
                a, _ = policy.act(obs, mask, rng, 0.5, explore=explore)
                assert mask[np.arange(batch), a].all()



def test_ppo_with_non_finite_logits_raises_instead_of_taking_a_masked_action():
    # Old code: NaN weights (a run whose training diverged: lr 1e30 on MaskedPick) gave NaN
    # probabilities, the sampler took action 0 for every row, masked or not, and the run failed
    # with the env's error for the invalid pick ("item 0 was already picked"), blaming the env
    algo = PPO(PPOConfig(env="rllib_lite/MaskedPick-v0", seed=0, num_envs_per_worker=2,
                         rollout_steps=4, minibatch_size=8, num_epochs=1))
    try:
        with torch.no_grad():
            algo.model.pi[-1].bias[1] = float("nan")
        with pytest.raises(ModelOutputError, match=r"PPO model returned logits that are NaN or "
                                                   r"infinite .* for 2 of 2 observations"):
            algo.train()
    finally:
        algo.stop()
    policy = PPOPolicy(ActorCritic(3, 3, (8,), "tanh"))
    with torch.no_grad():
        policy.model.pi[-1].bias[2] = float("inf")
    mask = np.array([[False, True, True], [True, True, False]])
    rng = np.random.default_rng(0)
    with pytest.raises(ModelOutputError, match="for 1 of 2 observations"):
        policy.act(np.zeros((2, 3), np.float32), mask, rng, 0.0)  # row 0: inf - inf
    # an infinite logit on a masked action, or -inf on some allowed ones, is a distribution
    for bias in (float("-inf"), float("inf")):
        policy.model.pi[-1].bias.data[:] = torch.tensor([bias, 0.0, float("-inf")])
        mask = np.array([[False, True, True]])
        for _ in range(20):
            assert policy.act(np.zeros((1, 3), np.float32), mask, rng, 0.0)[0][0] == 1

def test_masked_log_probs_give_no_gradient_to_masked_logits():
    logits = torch.zeros(1, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, False]])
    masked_log_probs(logits, mask)[0, 0].backward()
    assert logits.grad[0, 1] == 0 and logits.grad[0, 3] == 0


def test_ppo_and_dqn_train_on_the_masked_env_without_an_invalid_action():
    # MaskedPick raises on an invalid pick, so finishing these iterations proves masks held
    for mask_in_obs in (True, False):
        env_config = {"mask_in_obs": mask_in_obs}
        ppo = PPO(PPOConfig(env="rllib_lite/MaskedPick-v0", env_config=env_config, seed=1,
                            num_envs_per_worker=4, rollout_steps=16, num_epochs=2, minibatch_size=32))
        dqn = DQN(DQNConfig(env="rllib_lite/MaskedPick-v0", env_config=env_config, seed=1,
                            learning_starts=32, train_freq=32, gradient_steps=4, hidden_sizes=(32,),
                            exploration_steps=64, double_q=True, n_step=3))
        for algo in (ppo, dqn):
            for _ in range(4):
                algo.train()
            assert algo.evaluate(3)["episode_length_mean"] == 3
            obs, _ = algo.workers.local.envs[0].reset(seed=0)
            assert 0 <= algo.compute_action(obs) < 8
            algo.stop()


def test_masked_entropy_gradient_is_finite_and_zero_for_masked_logits():
    # a masked entry has log-prob -inf and prob 0: the product's gradient there is 0 * -inf
    logits = torch.randn(2, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    masked_entropy(masked_log_probs(logits, mask), mask).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask] == 0).all()
    # the gradient on the allowed logits is that of the entropy of their own softmax
    expected = torch.zeros(2, 4)
    for row in range(2):
        sub = logits.detach()[row, mask[row]].clone().requires_grad_(True)
        torch.distributions.Categorical(logits=sub).entropy().backward()
        expected[row, mask[row]] = sub.grad
    torch.testing.assert_close(logits.grad, expected)


def test_ppo_with_an_entropy_bonus_keeps_finite_weights_on_a_masked_env():
    algo = PPO(PPOConfig(env="rllib_lite/MaskedPick-v0", seed=0, ent_coef=0.01, num_envs_per_worker=4,
                         rollout_steps=16, num_epochs=2, minibatch_size=32))
    try:
        for _ in range(2):  # MaskedPick raises on an invalid pick: NaN weights pick one
            metrics = algo.train()
        assert np.isfinite(metrics["entropy"]) and np.isfinite(metrics["policy_loss"])
        assert all(torch.isfinite(p).all() for p in algo.model.parameters())
    finally:
        algo.stop()


class _PickOnce(gym.Env):
    """Four items, each picked at most once (a second pick raises), two picks an episode; the
    env has no mask of its own: a wrapper gives it, as sb3-contrib's ActionMasker does."""

    observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.free = np.ones(4, bool)
        return self.free.astype(np.float32), {}

    def step(self, action):
        if not self.free[action]:
            raise ValueError(f"item {action} was already picked")
        self.free[action] = False
        return self.free.astype(np.float32), 1.0, self.free.sum() == 2, False, {}


class _ActionMasker(gym.Wrapper):
    def __init__(self, env, mask_fn):
        super().__init__(env)
        self.mask_fn = mask_fn

    def action_masks(self):
        return self.mask_fn(self.env)


def _masked_by_a_wrapper(cfg):
    return _ActionMasker(_PickOnce(), lambda env: env.unwrapped.free.copy())


@pytest.mark.parametrize("algo_cls, config", [
    (PPO, PPOConfig(env=_masked_by_a_wrapper, seed=0, num_envs_per_worker=4, rollout_steps=16,
                    num_epochs=1, minibatch_size=32)),
    (DQN, DQNConfig(env=_masked_by_a_wrapper, seed=0, learning_starts=32, train_freq=32,
                    gradient_steps=2, hidden_sizes=(16,), exploration_steps=64)),
])
def test_an_action_masks_method_on_a_wrapper_masks_actions(algo_cls, config):
    algo = algo_cls(config)
    try:
        for _ in range(3):  # a masked pick raises in the env
            algo.train()
        assert algo.evaluate(4)["episode_return_mean"] == 2.0
    finally:
        algo.stop()


class _MasksWhileLive(gym.Env):
    """sb3-contrib's convention: ``action_masks()`` is asked only of a live episode (its vector
    envs reset a finished one first), so this one raises once the episode has terminated. Action
    2 is allowed on even steps; episodes end (``end``: terminate or truncate) after 3 steps."""

    observation_space = gym.spaces.Box(0.0, 5.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, end):
        self.end = end

    def action_masks(self):
        if self.terminated:
            raise RuntimeError("the episode is over: no actions to mask")
        return np.array([True, True, self.t % 2 == 0])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.terminated = 0, False
        return np.zeros(1, np.float32), {}

    def step(self, action):
        if action == 2 and self.t % 2:
            raise ValueError("action 2 is masked on odd steps")
        self.t += 1
        over = self.t == 3
        self.terminated = over and self.end == "terminate"
        return np.full(1, self.t, np.float32), 1.0, self.terminated, over and self.end == "truncate", {}


@pytest.mark.parametrize("end", ["terminate", "truncate"])
@pytest.mark.parametrize("algo_cls, config", [
    (PPO, PPOConfig(seed=0, num_envs_per_worker=2, rollout_steps=8, num_epochs=1, minibatch_size=16)),
    (DQN, DQNConfig(seed=0, learning_starts=8, train_freq=8, gradient_steps=1, hidden_sizes=(8,),
                    batch_size=8, n_step=2)),
])
def test_action_masks_is_not_asked_of_a_terminated_episode(algo_cls, config, end):
    # Old code: every step's next observation was processed with the env's action_masks(), a
    # terminated one's too (whose mask nothing uses), so an env written for sb3-contrib failed:
    # RuntimeError "the episode is over" out of train()
    import dataclasses

    algo = algo_cls(dataclasses.replace(config, env=lambda cfg: _MasksWhileLive(cfg["end"]),
                                        env_config={"end": end}))
    try:
        for _ in range(3):
            algo.train()
        if algo_cls is DQN and end == "truncate":
            # a truncated step bootstraps from its next state: its mask is still asked for
            d = algo.buffer._data
            truncated = d["dones"] & ~d["terminated"]
            assert truncated.any()
            assert (d["next_masks"][truncated] == [True, True, False]).all()
    finally:
        algo.stop()
