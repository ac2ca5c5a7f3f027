"""GAE and n-step returns against direct formulas."""
from __future__ import annotations

import numpy as np
import pytest

from rllib_lite.returns import compute_gae, n_step_returns


def naive_gae(rewards, values, dones, last_values, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, stopping at episode ends (Schulman et al. eq. 16)."""
    T, E = rewards.shape
    adv = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            total, coef = 0.0, 1.0
            for k in range(t, T):
                next_v = last_values[e] if k == T - 1 else values[k + 1, e]
                delta = rewards[k, e] + gamma * next_v * (1 - dones[k, e]) - values[k, e]
                total += coef * delta
                if dones[k, e]:
                    break
                coef *= gamma * lam
            adv[t, e] = total
    return adv


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_matches_the_sum_of_discounted_td_errors(seed):
    rng = np.random.default_rng(seed)
    T, E = 17, 3
    rewards = rng.normal(size=(T, E)).astype(np.float32)
    values = rng.normal(size=(T, E)).astype(np.float32)
    dones = rng.random((T, E)) < 0.2
    last = rng.normal(size=E).astype(np.float32)
    adv, ret = compute_gae(rewards, values, dones, last, 0.97, 0.9)
    np.testing.assert_allclose(adv, naive_gae(rewards, values, dones, last, 0.97, 0.9), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-6)


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rewards = np.array([[1.0], [1.0], [1.0]], dtype=np.float32)
    values = np.zeros((3, 1), dtype=np.float32)
    dones = np.array([[False], [False], [True]])
    adv, _ = compute_gae(rewards, values, dones, np.array([100.0], dtype=np.float32), 0.5, 1.0)
    # the episode ends at t=2, so the bootstrap value 100 must not leak in
    np.testing.assert_allclose(adv[:, 0], [1 + 0.5 + 0.25, 1 + 0.5, 1.0])


def test_n_step_stops_at_episode_end_and_at_newest_data():
    rewards = np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    dones = np.array([[False, False, False], [False, True, False], [False, False, False]])
    terminated = np.array([[False, False, False], [False, True, False], [False, False, False]])
    available = np.array([3, 3, 2])
    G, k, term = n_step_returns(rewards, dones, terminated, available, 0.5)
    np.testing.assert_allclose(G, [1 + 1 + 1, 1 + 1, 1 + 1])
    assert k.tolist() == [3, 2, 2]
    assert term.tolist() == [False, True, False]


def test_one_step_return_is_the_reward():
    r = np.array([[3.0], [-1.0]])
    G, k, term = n_step_returns(r, np.array([[True], [False]]), np.array([[True], [False]]),
                                np.array([1, 1]), 0.9)
    np.testing.assert_allclose(G, [3.0, -1.0])
    assert k.tolist() == [1, 1] and term.tolist() == [True, False]
