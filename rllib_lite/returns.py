"""Return estimators: GAE(lambda) for PPO and n-step returns for DQN.

Arrays are time-major, ``(T, E)`` for T steps of E envs. ``dones[t]`` says the episode ended at
step t (terminated or truncated); a truncated step has its bootstrap ``gamma * V(s_final)``
already added to its reward by the caller, so both kinds of end cut the recursion the same way.
"""
from __future__ import annotations

import numpy as np


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns (advantages + values) by GAE (Schulman et al. 2016, eq. 16).

    ``values[t]`` is V(s_t); ``last_values`` is V of the observation after the last step.
    """
    T = rewards.shape[0]
    advantages = np.zeros_like(rewards, dtype=np.float32)
    last_gae = np.zeros(rewards.shape[1:], dtype=np.float32)
    not_done = 1.0 - dones.astype(np.float32)
    for t in reversed(range(T)):
        next_values = last_values if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_values * not_done[t] - values[t]
        last_gae = delta + gamma * lam * not_done[t] * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


def n_step_returns(
    rewards: np.ndarray,
    dones: np.ndarray,
    terminated: np.ndarray,
    available: np.ndarray,
    gamma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step discounted reward sums over windows of shape ``(B, n)`` starting at each sample.

    A window stops after the first step that ends its episode, and after ``available[b]`` steps
    (the newest data in the buffer). Returns ``(G, k, term)``: the discounted sum
    sum_{i<k} gamma^i r_i, the number of steps k taken (the target then bootstraps with
    gamma^k * max_a Q(s_{t+k})), and whether the k-th step terminated (no bootstrap).
    """
    B, n = rewards.shape
    G = np.zeros(B, dtype=np.float64)
    steps = np.zeros(B, dtype=np.int64)
    term = np.zeros(B, dtype=bool)
    alive = np.ones(B, dtype=bool)
    for i in range(n):
        take = alive & (i < available)
        G += np.where(take, gamma**i * rewards[:, i], 0.0)
        steps += take
        term = np.where(take, terminated[:, i], term)
        alive = take & ~dones[:, i]
    return G.astype(np.float32), steps, term
