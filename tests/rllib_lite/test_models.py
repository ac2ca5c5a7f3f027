"""Default networks: the numpy forward used for acting matches torch's, and follows updates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rllib_lite.models import ActorCritic, QNetwork, numpy_forward
from rllib_lite.policies import PPOPolicy


@pytest.mark.parametrize("make", [
    lambda: ActorCritic(5, 3, (16, 8), "tanh"),
    lambda: QNetwork(5, 3, (16, 8), "relu", dueling=False),
    lambda: QNetwork(5, 3, (16, 8), "relu", dueling=True),
])
def test_numpy_forward_matches_the_torch_forward(make):
    torch.manual_seed(0)
    model = make()
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    fast = numpy_forward(model)
    assert fast is not None
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    got = fast(x)
    for r, g in zip(ref if isinstance(ref, tuple) else (ref,), got if isinstance(got, tuple) else (got,)):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-5, atol=1e-6)


def test_a_user_model_has_no_numpy_forward():
    assert numpy_forward(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Sigmoid())) is None


def test_numpy_forward_sees_in_place_optimizer_updates():
    torch.manual_seed(1)
    model = ActorCritic(4, 2, (8,), "tanh")
    policy = PPOPolicy(model)
    x = np.ones((1, 4), np.float32)
    before = policy.values(x).copy()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.from_numpy(x))[1].sum().backward()
    opt.step()
    after = policy.values(x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x))[1].numpy()
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)


class _BatchNormNet(torch.nn.Module):
    """A user model whose batch norm needs train or eval mode: in train mode it cannot take a
    batch of one observation, and it normalises by the batch's own statistics."""

    def __init__(self, heads: int):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU())
        self.heads = torch.nn.ModuleList(torch.nn.Linear(16, 2) for _ in range(heads))

    def forward(self, x):
        h = self.body(x)
        if len(self.heads) == 1:  # DQN: q-values
            return self.heads[0](h)
        return self.heads[0](h), self.heads[1](h)[:, 0]  # PPO: logits, value


@pytest.mark.parametrize("name", ["PPO", "DQN"])
def test_a_user_model_acts_in_eval_mode_and_learns_in_train_mode(name):
    # SB3's set_training_mode: rollouts, evaluation and the DQN target net in eval mode (batch
    # norm on its running statistics, dropout off), gradient steps in train mode
    from rllib_lite import DQN, PPO, DQNConfig, PPOConfig

    if name == "PPO":
        algo = PPO(PPOConfig(env="CartPole-v1", seed=0, model=_BatchNormNet(2), num_envs_per_worker=1,
                             rollout_steps=16, minibatch_size=16, num_epochs=1))
    else:
        algo = DQN(DQNConfig(env="CartPole-v1", seed=0, model=_BatchNormNet(1), learning_starts=0,
                             epsilon_initial=0.0, train_freq=16, gradient_steps=2, batch_size=8))
    try:
        stats = algo.model.body[1].running_mean.clone()
        for _ in range(2):
            algo.train()  # one env copy: one observation per forward while acting
        assert algo.model.training
        assert not torch.equal(stats, algo.model.body[1].running_mean)  # the gradient steps' batches
        if name == "DQN":
            assert not algo.target.training
        obs = np.zeros(4, np.float32)
        assert len({algo.compute_action(obs) for _ in range(3)}) == 1
        assert algo.model.training
    finally:
        algo.stop()
