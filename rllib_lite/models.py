"""Default networks, and the contract for a user's own ``torch.nn.Module``.

Contract for a user model (an ``nn.Module`` instance, or a factory
``(observation_space, action_space) -> nn.Module``; the observation passed to ``forward`` is the
preprocessed one: a float32 tensor, or a dict of them for Dict observations, without the mask):

* PPO: ``forward(obs) -> (logits, value)`` with shapes ``(batch, actions)`` and ``(batch,)``.
* DQN: ``forward(obs) -> q_values`` with shape ``(batch, actions)``.

Masking is applied outside the model, so a user model never needs to know about it.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence, Union

import gymnasium as gym
import torch
from torch import nn

ModelSpec = Union[nn.Module, Callable[[gym.Space, gym.Space], nn.Module], None]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(sizes: Sequence[int], activation: str, out_gain: float | None = None) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        if out_gain is not None:
            # orthogonal init as in PPO implementations (Engstrom et al. 2020, "Implementation
            # Matters"): sqrt(2) for hidden layers, a small gain for the policy head
            nn.init.orthogonal_(linear.weight, gain=out_gain if last else math.sqrt(2))
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs over the flat observation (SB3's default for PPO)."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: Sequence[int], activation: str):
        super().__init__()
        self.pi = mlp([obs_dim, *hidden, num_actions], activation, out_gain=0.01)
        self.vf = mlp([obs_dim, *hidden, 1], activation, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pi(obs), self.vf(obs).squeeze(-1)


class QNetwork(nn.Module):
    """MLP Q-network; with ``dueling`` the head is V(s) + A(s, a) - mean_a A(s, a)
    (Wang et al. 2016, eq. 9)."""

    def __init__(
        self, obs_dim: int, num_actions: int, hidden: Sequence[int], activation: str, dueling: bool
    ):
        super().__init__()
        self.dueling = dueling
        if not dueling:
            self.q = mlp([obs_dim, *hidden, num_actions], activation)
            return
        self.torso = mlp([obs_dim, *hidden], activation)
        self.torso.append(_ACTIVATIONS[activation]())
        width = hidden[-1] if hidden else obs_dim
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.dueling:
            return self.q(obs)
        h = self.torso(obs)
        adv = self.advantage(h)  # (batch, actions)
        return self.value(h) + adv - adv.mean(dim=-1, keepdim=True)


def build_user_model(spec: ModelSpec, observation_space: gym.Space, action_space: gym.Space) -> nn.Module:
    """A fresh copy of the user's module, or the factory's output."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    model = spec(observation_space, action_space)  # type: ignore[misc]
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def make_adam(params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused CPU kernel where this torch has it (one kernel for all parameters)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=eps)


def state_dict_numpy(model: nn.Module) -> dict[str, Any]:
    """Weights as numpy arrays: cheap to pickle into the object store."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state_dict_numpy(model: nn.Module, weights: dict[str, Any]) -> None:
    # arrays from the object store are read-only views: copy them into fresh tensors
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
