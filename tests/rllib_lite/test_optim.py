"""gradient_step: the same update as zero_grad, backward, clip_grad_norm_, step."""
from __future__ import annotations

import copy

import pytest
import torch

from rllib_lite.optim import gradient_step, make_adam


@pytest.mark.parametrize("max_norm", [1e-3, 1e3, None])  # clipping on, off, no clipping
def test_gradient_step_matches_the_torch_recipe(max_norm):
    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    ref = copy.deepcopy(ours)
    opt_ours, opt_ref = make_adam(ours.parameters(), 1e-2), make_adam(ref.parameters(), 1e-2)
    for _ in range(5):
        x, y = torch.randn(8, 3), torch.randn(8, 2)
        gradient_step(opt_ours, list(ours.parameters()), ((ours(x) - y) ** 2).mean(), max_norm)
        opt_ref.zero_grad()
        ((ref(x) - y) ** 2).mean().backward()
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
        opt_ref.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(a, b)
