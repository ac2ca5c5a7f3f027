"""PPO's options one by one: truncation bootstrap, KL early stop, clipped value loss, entropy bonus."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rllib_lite import PPO, PPOConfig
from rllib_lite.masking import masked_entropy


class RecordFinal(gym.Wrapper):
    """Keeps the observation each episode ended on, and how it ended."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.finals: list[tuple[np.ndarray, bool]] = []  # (observation, truncated)

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        if term or trunc:
            self.finals.append((np.array(obs, dtype=np.float32), trunc and not term))
        return obs, r, term, trunc, info


def test_truncated_episodes_bootstrap_from_the_value_of_their_final_state():
    algo = PPO(PPOConfig(env=lambda cfg: RecordFinal(gym.make("CartPole-v1", max_episode_steps=20)),
                         seed=1, num_envs_per_worker=3, rollout_steps=64))
    try:
        batch = algo._sample(64, {})
        envs = algo.workers.local.envs
        truncated = batch["dones"] & ~batch["terminated"]
        assert truncated.any() and batch["terminated"].any()  # both kinds of ending occur
        for i, env in enumerate(envs):
            ends = np.flatnonzero(batch["dones"][:, i])
            assert len(ends) == len(env.finals)
            for t, (obs, trunc) in zip(ends, env.finals):
                assert trunc == truncated[t, i]
                with torch.no_grad():
                    v = float(algo.model(torch.from_numpy(obs[None]))[1][0])
                # V(s_final) for a truncated episode, nothing for a terminated one
                assert batch["final_values"][t, i] == pytest.approx(v if trunc else 0.0, abs=1e-5)
        assert not batch["final_values"][~truncated].any()
    finally:
        algo.stop()


def _gradient_steps(algo: PPO) -> int:
    states = list(algo.optimizer.state.values())
    return int(states[0]["step"]) if states else 0


@pytest.mark.parametrize("target_kl", [None, 1e-4])
def test_target_kl_stops_the_epochs_early(target_kl):
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_envs_per_worker=4, rollout_steps=32,
                         minibatch_size=64, num_epochs=10, lr=0.01, lr_schedule="constant",
                         target_kl=target_kl))
    try:
        m = algo.train()
        steps = _gradient_steps(algo)
        if target_kl is None:
            assert not m["stopped_early"] and steps == 10 * 2  # 10 epochs of 2 minibatches
        else:
            # the first minibatch has ratio 1 (KL 0), so at least one step happens, then a stop
            assert m["stopped_early"] and 1 <= steps < 20
    finally:
        algo.stop()


def _fixed_batch(algo: PPO, value_offset: float) -> tuple[dict, np.ndarray, np.ndarray]:
    """A (T=16, E=4) batch of CartPole observations with the model's own log-probs, and old
    values shifted by ``value_offset`` from the current ones."""
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 0.5, size=(16, 4, 4)).astype(np.float32)
    with torch.no_grad():
        logits, values = algo.model(torch.from_numpy(obs.reshape(-1, 4)))
    actions = rng.integers(0, 2, size=(16, 4))
    logp = torch.log_softmax(logits, -1).numpy()[np.arange(64), actions.reshape(-1)].reshape(16, 4)
    batch = {"obs": obs, "masks": np.ones((16, 4, 2), dtype=bool), "actions": actions,
             "logp": logp.astype(np.float32),
             "values": (values.numpy().reshape(16, 4) + value_offset).astype(np.float32)}
    returns = rng.normal(0.0, 2.0, size=(16, 4)).astype(np.float32)
    adv = rng.normal(size=(16, 4)).astype(np.float32)
    return batch, adv, returns


# 1e300: past float32's range; torch.clamp refused it ("RuntimeError: value cannot be converted
# to type float without overflow", `train --vf-clip-range 1e300` an internal error, exit 1)
@pytest.mark.parametrize("vf_clip", [None, 0.1, 1e300])
def test_value_loss_is_clipped_around_the_old_values(vf_clip):
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_epochs=1, minibatch_size=64,
                         vf_clip_range=vf_clip))
    try:
        batch, adv, returns = _fixed_batch(algo, value_offset=-0.5)
        with torch.no_grad():
            v = algo.model(torch.from_numpy(batch["obs"].reshape(-1, 4)))[1].numpy()
        old, ret = batch["values"].reshape(-1), returns.reshape(-1)
        if vf_clip is None or vf_clip > 1e38:  # nothing clipped: both errors are the plain one
            expected = np.mean((v - ret) ** 2)
        else:  # the prediction may move at most vf_clip from the old value: max of both errors
            clipped = old + np.clip(v - old, -vf_clip, vf_clip)
            expected = np.mean(np.maximum((v - ret) ** 2, (clipped - ret) ** 2))
        m = algo._update(batch, adv, returns, clip=0.2)
        assert m["value_loss"] == pytest.approx(float(expected), rel=1e-5)
    finally:
        algo.stop()


@pytest.mark.parametrize("ent_coef", [0.0, 0.5])
def test_entropy_bonus_pushes_a_peaked_policy_towards_uniform(ent_coef):
    algo = PPO(PPOConfig(env="CartPole-v1", seed=0, num_epochs=20, minibatch_size=64, lr=0.01,
                         lr_schedule="constant", ent_coef=ent_coef))
    try:
        with torch.no_grad():
            algo.model.pi[4].bias.copy_(torch.tensor([3.0, -3.0]))  # nearly always action 0
        batch, _, returns = _fixed_batch(algo, value_offset=0.0)
        obs = torch.from_numpy(batch["obs"].reshape(-1, 4))
        masks = torch.ones(64, 2, dtype=torch.bool)

        def entropy() -> float:
            with torch.no_grad():
                return float(masked_entropy(torch.log_softmax(algo.model(obs)[0], -1), masks).mean())

        before = entropy()
        # zero advantages: the surrogate has no gradient, so only the entropy term moves the policy
        algo._update(batch, np.zeros((16, 4), dtype=np.float32), returns, clip=0.2)
        if ent_coef == 0.0:
            assert entropy() == pytest.approx(before, abs=1e-6)
        else:
            assert entropy() > 3 * before
    finally:
        algo.stop()
