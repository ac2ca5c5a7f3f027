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
