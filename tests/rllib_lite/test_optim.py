"""gradient_step: the same update as zero_grad, backward, clip_grad_norm_, step."""
from __future__ import annotations

import copy

import pytest
import torch

from rllib_lite.optim import adam_step, denormals_flushed, flush_denormals, gradient_step, make_adam


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


def test_adam_step_is_adams_step_and_keeps_its_state_dict():
    torch.manual_seed(1)
    ours = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    ref = copy.deepcopy(ours)
    opt_ours, opt_ref = make_adam(ours.parameters(), 1e-2), make_adam(ref.parameters(), 1e-2)
    for step in range(4):
        x = torch.randn(5, 3)
        for net, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
        adam_step(opt_ours)
        opt_ref.step()
        for a, b in zip(ours.parameters(), ref.parameters()):
            assert torch.equal(a, b), f"step {step}"
    s_ours, s_ref = opt_ours.state_dict(), opt_ref.state_dict()
    for k in s_ref["state"]:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(s_ours["state"][k][name], s_ref["state"][k][name])


def test_flush_denormals_flushes_inside_and_restores_the_mode():
    tiny = torch.tensor([1e-39])
    assert not denormals_flushed() and float(tiny * 2) > 0
    with flush_denormals():
        assert denormals_flushed() and float(tiny * 2) == 0.0
        with flush_denormals():  # nested: leaves the outer mode alone
            pass
        assert denormals_flushed()
    assert not denormals_flushed() and float(tiny * 2) > 0
    with flush_denormals(enabled=False):
        assert not denormals_flushed()
