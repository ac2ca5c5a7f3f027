"""The gradient step PPO and DQN share: Adam, and zero-grad, backward, clip, step in one call.

Both learners take thousands of small gradient steps (DQN: 128 per iteration on a 64-row
minibatch), where the framework's per-call bookkeeping (``zero_grad``'s and ``step``'s profiler
hooks, ``clip_grad_norm_``'s grouping of tensors by device, ``Adam.step``'s regrouping of its
state) costs as much as the arithmetic. ``gradient_step`` does the same operations with less of
it: the global-norm clip is ``clip_grad_norm_``'s (same coefficient, ``max_norm / (norm + 1e-6)``,
computed the same way in float32), skipped when the coefficient would be clamped to 1 (a multiply
by exactly 1), and ``adam_step`` calls the fused Adam kernel that ``Adam.step`` would call, on the
optimizer's own state (so ``state_dict`` and checkpoints are unchanged).

``flush_denormals`` is the other half of the speed: the gradient of a weight into a dead ReLU unit
is zero, so Adam's first moment for it decays by beta1 = 0.9 per step into float32's subnormal
range (below 1.2e-38) within a few hundred steps, and x86 arithmetic on subnormals is one to two
orders of magnitude slower (measured: half of the 256x256 layer's moments in DQN on CartPole
after 4k steps, and the fused Adam step 12x slower). The learners run with subnormals
flushed to zero (as TensorFlow does by default), which changes only those values.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional, Sequence

import torch

_TINY = torch.tensor([1e-39])  # a float32 subnormal


def denormals_flushed() -> bool:
    """Whether this thread's float arithmetic treats subnormals as zero."""
    return bool((_TINY * 1.0)[0] == 0.0)


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """Flush float subnormals to zero in this thread inside the block (``torch.set_flush_denormal``),
    then put the previous mode back."""
    if not enabled or denormals_flushed():
        yield
        return
    if not torch.set_flush_denormal(True):  # the CPU cannot (no SSE3 DAZ)
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def make_adam(params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused CPU kernel where this torch has it (one kernel for all parameters)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=eps)


def adam_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()``; for a fused single-group Adam whose state exists, the same fused
    kernel called directly, without ``step``'s per-call regrouping of tensors (bit-identical)."""
    groups = optimizer.param_groups
    fused = getattr(torch, "_fused_adam_", None)
    if (fused is None or type(optimizer) is not torch.optim.Adam or len(groups) != 1
            or not groups[0].get("fused") or groups[0]["amsgrad"] or groups[0].get("decoupled_weight_decay")):
        optimizer.step()
        return
    group = groups[0]
    params = [p for p in group["params"] if p.grad is not None]
    states = [optimizer.state.get(p) for p in params]
    if not params or not all(states):  # first step: let Adam create its state
        optimizer.step()
        return
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    fused(params, [p.grad for p in params], [s["exp_avg"] for s in states],
          [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
          beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
          maximize=group["maximize"], grad_scale=None, found_inf=None)


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
    adam_step(optimizer)
