"""Our learners make the updates Stable-Baselines3 makes, given the same weights and data.

The benchmark (benchmarks/rl_cartpole.py) compares steps to solve CartPole with SB3 under the
same hyperparameters; these tests pin down that the learning rules are the same, so what is left
of a gap there is the luck of the seeds. Each test loads one set of weights into both libraries,
feeds both the same data (the same replay minibatches for DQN, one SB3 rollout for PPO) and
compares the weights after the updates. Skipped when stable-baselines3 is not installed
(``pip install -e ".[bench]"``).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rllib_lite import DQN, PPO, DQNConfig, PPOConfig
from rllib_lite.returns import compute_gae

sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.logger import Logger  # noqa: E402
from stable_baselines3.common.type_aliases import ReplayBufferSamples  # noqa: E402

# float32 sums in another order (fused against foreach Adam, permuted minibatch rows) differ in
# the last bits; over these few dozen steps that stays far below any real difference in the rule
TOL = dict(rtol=1e-4, atol=1e-5)


def random_transitions(n: int, seed: int) -> dict[str, np.ndarray]:
    """n CartPole steps with random actions, as (n, 1, ...) columns of one env copy."""
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    cols: dict[str, list] = {k: [] for k in ("obs", "actions", "rewards", "next_obs", "terminated", "dones")}
    for _ in range(n):
        a = int(rng.integers(2))
        nxt, r, term, trunc, _ = env.step(a)
        for k, v in zip(cols, (obs, a, r, nxt, term, term or trunc)):
            cols[k].append(v)
        obs = env.reset()[0] if term or trunc else nxt
    out = {k: np.asarray(v)[:, None] for k, v in cols.items()}
    out["obs"], out["next_obs"] = out["obs"].astype(np.float32), out["next_obs"].astype(np.float32)
    out["actions"] = out["actions"].astype(np.int64)
    out["rewards"] = out["rewards"].astype(np.float32)
    out["next_masks"] = np.ones((n, 1, 2), dtype=bool)
    return out


def test_dqn_update_matches_sb3():
    steps, batch = 64, 64
    ours = DQN(DQNConfig(env="CartPole-v1", seed=0, lr=2.3e-3, hidden_sizes=(256, 256),
                         activation="relu", batch_size=batch, gamma=0.99, max_grad_norm=10.0))
    ref = sb3.DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=batch, gamma=0.99,
                  max_grad_norm=10.0, policy_kwargs=dict(net_arch=[256, 256]), device="cpu", seed=0)
    ref.policy.q_net.q_net.load_state_dict(ours.model.q.state_dict())
    ref.policy.q_net_target.q_net.load_state_dict(ours.target.q.state_dict())
    ref.set_logger(Logger(folder=None, output_formats=[]))  # no folder in /tmp
    before = {k: v.clone() for k, v in ours.model.q.state_dict().items()}
    try:
        ours.buffer.add(random_transitions(3000, seed=1))
        flat = np.random.default_rng(2).integers(0, len(ours.buffer), size=steps * batch)
        ours.buffer.sample = lambda n, rng: ours.buffer.gather(flat[:n])  # type: ignore[method-assign]
        drawn = ours.buffer.gather(flat)

        def ref_batches():
            for i in range(steps):
                rows = slice(i * batch, (i + 1) * batch)
                col = lambda a: torch.as_tensor(a[rows]).reshape(batch, 1)  # noqa: E731
                yield ReplayBufferSamples(
                    observations=torch.as_tensor(drawn["obs"][rows]), actions=col(drawn["actions"]),
                    next_observations=torch.as_tensor(drawn["next_obs"][rows]),
                    dones=col(drawn["terminated"].astype(np.float32)), rewards=col(drawn["returns"]))

        it = ref_batches()
        ref.replay_buffer.sample = lambda batch_size, env=None: next(it)  # type: ignore[method-assign]
        ours._learn(steps)
        ref.train(gradient_steps=steps, batch_size=batch)
        after = ours.model.q.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in after)  # the updates did something
        for name, theirs in ref.policy.q_net.q_net.state_dict().items():
            torch.testing.assert_close(after[name], theirs, **TOL, msg=lambda m: f"{name}: {m}")
    finally:
        ours.stop()


def _sb3_rollout(ref):
    """One SB3 rollout of 32 steps on its 8 env copies; returns the bootstrap inputs."""
    _, callback = ref._setup_learn(ref.n_steps * ref.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    assert ref.collect_rollouts(ref.env, callback, ref.rollout_buffer, n_rollout_steps=ref.n_steps)
    with torch.no_grad():
        last_values = ref.policy.predict_values(torch.as_tensor(ref._last_obs)).numpy().reshape(-1)
    return last_values, ref._last_episode_starts.astype(bool)


def test_ppo_gae_and_update_match_sb3():
    hp = dict(gae_lambda=0.8, gamma=0.98)
    ours = PPO(PPOConfig(env="CartPole-v1", seed=0, num_envs_per_worker=8, rollout_steps=32,
                         minibatch_size=256, num_epochs=20, ent_coef=0.0, lr=1e-3, clip_range=0.2,
                         hidden_sizes=(64, 64), activation="tanh", max_grad_norm=0.5, **hp))
    ref = sb3.PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=0), n_steps=32, batch_size=256,
                  n_epochs=20, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, device="cpu", seed=0, **hp)
    ref.set_logger(Logger(folder=None, output_formats=[]))
    pol = ref.policy
    pairs = [(pol.mlp_extractor.policy_net[0], ours.model.pi[0]), (pol.mlp_extractor.policy_net[2], ours.model.pi[2]),
             (pol.action_net, ours.model.pi[4]), (pol.mlp_extractor.value_net[0], ours.model.vf[0]),
             (pol.mlp_extractor.value_net[2], ours.model.vf[2]), (pol.value_net, ours.model.vf[4])]
    for theirs, mine in pairs:
        theirs.load_state_dict(mine.state_dict())
    before = [p.detach().clone() for p in ours.model.parameters()]
    try:
        last_values, last_dones = _sb3_rollout(ref)
        buf = ref.rollout_buffer
        # GAE: SB3 marks episode starts, we mark episode ends; truncation bootstraps are already
        # in SB3's stored rewards, as they are in the rewards our PPO passes to compute_gae
        dones = np.concatenate([buf.episode_starts[1:], last_dones[None]]).astype(bool)
        adv, returns = compute_gae(buf.rewards, buf.values, dones, last_values, hp["gamma"], hp["gae_lambda"])
        np.testing.assert_allclose(adv, buf.advantages, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(returns, buf.returns, rtol=1e-5, atol=1e-5)

        T, E = buf.rewards.shape
        batch = {"obs": buf.observations.astype(np.float32), "masks": np.ones((T, E, 2), dtype=bool),
                 "actions": buf.actions.reshape(T, E).astype(np.int64),
                 "logp": buf.log_probs.astype(np.float32), "values": buf.values.astype(np.float32)}
        ours._update(batch, buf.advantages.astype(np.float32), buf.returns.astype(np.float32), clip=0.2)
        ref.train()
        for theirs, mine in pairs:
            for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
                torch.testing.assert_close(a, b, **TOL, msg=lambda m: f"{name}: {m}")
        # the updates did something
        assert any(not torch.equal(b, p) for b, p in zip(before, ours.model.parameters()))
    finally:
        ours.stop()
