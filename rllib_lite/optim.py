"""The gradient step PPO and DQN share: Adam, and zero-grad, backward, clip, step in one call.

Both learners take thousands of small gradient steps (DQN: 128 per iteration on a 64-row
minibatch), where the framework's per-call bookkeeping (``zero_grad``'s and ``step``'s profiler
hooks, ``clip_grad_norm_``'s grouping of tensors by device) costs as much as the arithmetic.
``gradient_step`` does the same operations with less of it: the global-norm clip is
``clip_grad_norm_``'s (same coefficient, ``max_norm / (norm + 1e-6)``, computed the same way in
float32), skipped when the coefficient would be clamped to 1 (a multiply by exactly 1).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch


def make_adam(params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused CPU kernel where this torch has it (one kernel for all parameters)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=eps)


def clip_grad_norm(grads: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; returns the
    norm before clipping."""
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(grads))))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        torch._foreach_mul_(list(grads), coef)
    return total


def gradient_step(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], loss: torch.Tensor,
                  max_grad_norm: Optional[float]) -> None:
    """``params``' gradients set from ``loss`` alone, clipped to ``max_grad_norm`` (None: not
    clipped), then one optimizer step."""
    for p in params:
        p.grad = None
    loss.backward()
    if max_grad_norm is not None:
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            clip_grad_norm(grads, max_grad_norm)
    optimizer.step()
