"""DQN pieces: target updates, double-Q and masked targets, dueling head."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rllib_lite import DQN, DQNConfig
from rllib_lite.dqn import polyak_update
from rllib_lite.models import QNetwork
from rllib_lite.policies import DQNPolicy, EpsilonSchedule


def test_hard_and_polyak_target_updates():
    online, target = QNetwork(3, 2, (4,), "relu", False), QNetwork(3, 2, (4,), "relu", False)
    before = [p.clone() for p in target.parameters()]
    polyak_update(target, online, 0.25)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)
    polyak_update(target, online, 1.0)
    for t, o in zip(target.parameters(), online.parameters()):
        assert torch.equal(t, o)


def test_polyak_update_copies_batchnorm_running_statistics():
    # SB3 (DQN._on_step) averages parameters and copies BatchNorm's running statistics: an
    # average of two running variances is the variance of neither net's inputs
    def net():
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))

    torch.manual_seed(0)
    online, target = net(), net()
    online.train()
    online(torch.randn(16, 3) * 5 + 2)  # moves online's running_mean, running_var
    before = [p.clone() for p in target.parameters()]
    polyak_update(target, online, 0.25)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(target[1], name), getattr(online[1], name)), name


def test_dueling_head_is_value_plus_centred_advantage():
    net = QNetwork(3, 4, (8,), "relu", dueling=True)
    x = torch.randn(5, 3)
    h = net.torso(x)
    expected = net.value(h) + net.advantage(h) - net.advantage(h).mean(-1, keepdim=True)
    torch.testing.assert_close(net(x), expected)


def _algo(double_q):
    return DQN(DQNConfig(env="CartPole-v1", double_q=double_q, hidden_sizes=(8,), seed=0))


def _fixed_nets(algo, online_q, target_q):
    class Const(torch.nn.Module):
        def __init__(self, q):
            super().__init__()
            self.q = torch.tensor(q)

        def forward(self, x):
            return self.q.expand(x.shape[0], -1)

    algo.model, algo.target = Const(online_q), Const(target_q)


@pytest.mark.parametrize("double_q, expected", [(False, 1 + 0.5 * 7.0), (True, 1 + 0.5 * 2.0)])
def test_td_target_uses_max_or_double_q_over_allowed_actions_only(double_q, expected):
    algo = _algo(double_q)
    # action 2 is masked: its huge Q must be ignored by both rules
    _fixed_nets(algo, online_q=[[5.0, 1.0, 99.0]], target_q=[[2.0, 7.0, 100.0]])
    sample = {"next_obs": np.zeros((2, 4), np.float32), "next_masks": np.array([[1, 1, 0]] * 2, bool),
              "returns": np.ones(2, np.float32), "discounts": np.full(2, 0.5, np.float32),
              "terminated": np.array([False, True])}
    y = algo.td_targets(sample)
    assert y[0].item() == pytest.approx(expected)
    assert y[1].item() == pytest.approx(1.0)  # terminated: no bootstrap
    algo.stop()


def test_target_net_follows_the_online_net_between_iterations():
    algo = DQN(DQNConfig(env="CartPole-v1", hidden_sizes=(8,), learning_starts=0, train_freq=32,
                         gradient_steps=4, target_update_interval=32, seed=0))
    algo.train()
    algo.train()  # updates after the sync: the nets differ now
    assert any(not torch.equal(t, o) for t, o in zip(algo.target.parameters(), algo.model.parameters()))
    algo._learn = lambda steps: None  # an iteration with no updates: the sync alone remains
    algo.train()
    assert all(torch.equal(t, o) for t, o in zip(algo.target.parameters(), algo.model.parameters()))
    algo.stop()



@pytest.mark.parametrize("train_freq, updates", [(32, 4), (8, 1), (4, 0)])
def test_polyak_target_update_is_applied_once_per_interval_of_env_steps(train_freq, updates):
    # SB3's: every target_update_interval env steps, tau of the way to the online net; an
    # iteration of 32 env steps with an interval of 8 holds 4 of them (no learning before step 10**6)
    algo = DQN(DQNConfig(env="CartPole-v1", hidden_sizes=(8,), learning_starts=10**6,
                         train_freq=train_freq, target_update_interval=8, tau=0.5, seed=0))
    try:
        with torch.no_grad():
            for p in algo.target.parameters():
                p.add_(1.0)  # target = online + 1
        algo.train()
        for t, o in zip(algo.target.parameters(), algo.model.parameters()):
            torch.testing.assert_close(t, o + 0.5**updates)
    finally:
        algo.stop()

def test_prioritized_dueling_n_step_dqn_runs():
    algo = DQN(DQNConfig(env="CartPole-v1", hidden_sizes=(16,), learning_starts=64, train_freq=64,
                         gradient_steps=8, prioritized_replay=True, dueling=True, n_step=3,
                         double_q=True, tau=0.5, seed=3))
    for _ in range(3):
        m = algo.train()
    assert m["loss"] is not None and np.isfinite(m["loss"])
    assert algo.buffer.tree.total() > 0
    algo.stop()


def test_epsilon_schedule_is_sb3s_random_warm_up_then_linear():
    s = EpsilonSchedule(1.0, 0.04, exploration_steps=8000, learning_starts=1000)
    assert s(0) == s(999) == 1.0
    assert s(1000) == pytest.approx(1.0 - 0.96 * 1000 / 8000)
    assert s(8000) == s(20_000) == pytest.approx(0.04)


def test_dqn_policy_takes_each_steps_epsilon_from_its_env_step_count():
    # a Q-network that always prefers action 0: action 1 is only ever taken by exploring
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([1.0, 0.0]))
    policy = DQNPolicy(net)
    # the call covers env steps 0..100; random before step 50, then epsilon 1 - step / 100
    policy.configure(schedule=EpsilonSchedule(1.0, 0.0, exploration_steps=100, learning_starts=50),
                     steps=(0, 100))
    rng = np.random.default_rng(0)
    x, masks = np.zeros((4000, 3), np.float32), np.ones((4000, 2), bool)

    def share_of_action_1(progress):
        return float(policy.act(x, masks, rng, progress)[0].mean())

    assert share_of_action_1(0.49) == pytest.approx(0.5, abs=0.03)  # step 49: uniformly random
    assert share_of_action_1(0.6) == pytest.approx(0.4 / 2, abs=0.03)  # step 60: epsilon 0.4
    assert share_of_action_1(0.99) < 0.02  # step 99: epsilon 0.01
    policy.configure(epsilon=0.0)
    assert share_of_action_1(0.0) == 0.0


def test_dqn_policy_counts_env_steps_exactly_at_the_end_of_the_random_warm_up():
    # a call of 100 steps: step 29 is told progress 29 / 100, and 100 * (29 / 100) is
    # 28.999999999999996 in floats, which is before learning_starts=29
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([1.0, 0.0]))  # greedy: action 0
    policy = DQNPolicy(net)
    policy.configure(schedule=EpsilonSchedule(1.0, 0.0, exploration_steps=100, learning_starts=29),
                     steps=(0, 100))
    x, masks = np.zeros((4000, 3), np.float32), np.ones((4000, 2), bool)
    actions, _ = policy.act(x, masks, np.random.default_rng(0), 29 / 100)
    # epsilon 0.71 at step 29: action 1 in 0.355 of the rows, not half as when uniformly random
    assert float(actions.mean()) == pytest.approx(0.71 / 2, abs=0.03)


def test_dueling_head_without_hidden_layers_reads_the_raw_observation():
    # hidden_sizes=(): the value and advantage heads are linear in the observation itself, as
    # the plain head is; no activation may cut its negative features off first
    net = QNetwork(3, 4, (), "relu", dueling=True)
    x = -torch.rand(5, 3) - 0.1
    expected = net.value(x) + net.advantage(x) - net.advantage(x).mean(-1, keepdim=True)
    torch.testing.assert_close(net(x), expected)
    policy = DQNPolicy(net)  # the rollout workers' numpy forward agrees
    np.testing.assert_allclose(policy.forward(x.numpy()), expected.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dqn_with_zero_gradient_steps_samples_and_never_updates():
    algo = DQN(DQNConfig(env="CartPole-v1", hidden_sizes=(8,), learning_starts=0, train_freq=32,
                         gradient_steps=0, seed=0))
    try:
        before = [p.clone() for p in algo.model.parameters()]
        m = algo.train()
        assert m["steps_this_iter"] == 32 and m["loss"] is None and m["gradient_steps_total"] == 0
        assert all(torch.equal(b, p) for b, p in zip(before, algo.model.parameters()))
    finally:
        algo.stop()
