"""Default networks, and the contract for a user's own ``torch.nn.Module``.

Contract for a user model (an ``nn.Module`` instance, or a factory
``(observation_space, action_space) -> nn.Module``; the observation passed to ``forward`` is the
preprocessed one: a float32 tensor, or a dict of them for Dict observations, without the mask):

* PPO: ``forward(obs) -> (logits, value)`` with shapes ``(batch, actions)`` and ``(batch,)``.
* DQN: ``forward(obs) -> q_values`` with shape ``(batch, actions)``.

Masking is applied outside the model, so a user model never needs to know about it. Acting
(rollouts, ``evaluate``, ``compute_action``) runs it in eval mode and gradient steps in train mode,
as Stable-Baselines3 does; DQN's target net stays in eval mode.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
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
        if hidden:  # after the last hidden layer; without one the heads read the observation
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


NumpyForward = Callable[[np.ndarray], Any]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


_NP_ACTIVATIONS = {nn.Tanh: _tanh, nn.ReLU: _relu}


def _numpy_layers(seq: nn.Module) -> Optional[list[tuple[np.ndarray, np.ndarray, Any]]]:
    """(W^T, b, activation) views of a Sequential of Linear and Tanh/ReLU, or None."""
    if not isinstance(seq, nn.Sequential):
        return None
    layers: list[list[Any]] = []
    for mod in seq:
        if type(mod) is nn.Linear and mod.bias is not None:
            layers.append([mod.weight.detach().numpy().T, mod.bias.detach().numpy(), None])
        elif type(mod) in _NP_ACTIVATIONS and layers and layers[-1][2] is None:
            layers[-1][2] = _NP_ACTIVATIONS[type(mod)]
        else:
            return None
    return [tuple(layer) for layer in layers]  # type: ignore[misc]


def _run_layers(layers: list[tuple[np.ndarray, np.ndarray, Any]], x: np.ndarray) -> np.ndarray:
    for w_t, b, act in layers:
        x = x @ w_t + b  # (batch, out)
        if act is not None:
            x = act(x)
    return x


def numpy_forward(model: nn.Module) -> Optional[NumpyForward]:
    """The forward pass of a default model (``ActorCritic``, ``QNetwork``) in numpy, or None
    for any other model.

    Rollout workers act on a handful of observations per step, where torch's per-op dispatch
    costs more than the arithmetic; numpy on the same float32 weights is several times faster.
    The arrays are views of the parameters (no copy): updates made in place, by the optimizer or
    ``load_state_dict``, show through. Call again after the parameters are replaced.
    """
    if type(model) is ActorCritic:
        pi, vf = _numpy_layers(model.pi), _numpy_layers(model.vf)
        if pi is None or vf is None:
            return None
        return lambda x: (_run_layers(pi, x), _run_layers(vf, x)[:, 0])
    if type(model) is QNetwork:
        if not model.dueling:
            q = _numpy_layers(model.q)
            return None if q is None else (lambda x: _run_layers(q, x))
        torso = _numpy_layers(model.torso)
        if torso is None:
            return None
        value = _numpy_layers(nn.Sequential(model.value))
        advantage = _numpy_layers(nn.Sequential(model.advantage))

        def dueling(x: np.ndarray) -> np.ndarray:
            h = _run_layers(torso, x)
            adv = _run_layers(advantage, h)  # type: ignore[arg-type]
            return _run_layers(value, h) + adv - adv.mean(axis=-1, keepdims=True)  # type: ignore[arg-type]

        return dueling
    return None


def build_user_model(spec: ModelSpec, observation_space: gym.Space, action_space: gym.Space) -> nn.Module:
    """A fresh copy of the user's module, or the factory's output."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    model = spec(observation_space, action_space)  # type: ignore[misc]
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def state_dict_numpy(model: nn.Module) -> dict[str, Any]:
    """Weights as numpy arrays: cheap to pickle into the object store."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state_dict_numpy(model: nn.Module, weights: dict[str, Any]) -> None:
    # arrays from the object store are read-only views: copy them into fresh tensors
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
