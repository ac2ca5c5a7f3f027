"""Replay buffers: layout, n-step windows, uniform and prioritized sampling."""
from __future__ import annotations

import numpy as np
import pytest

from rllib_lite.replay import PrioritizedReplayBuffer, ReplayBuffer, SumTree


def add_counting(buf, steps, num_envs, done_every=None):
    """Rows where obs = step * 10 + env and reward = 1, so samples can be traced back."""
    for t in range(steps):
        obs = np.array([[t * 10 + e] for e in range(num_envs)], dtype=np.float32)[None]  # (1, E, 1)
        done = np.array([[done_every is not None and (t + 1) % done_every == 0] * num_envs])
        buf.add({"obs": obs, "actions": np.zeros((1, num_envs), np.int64),
                 "rewards": np.ones((1, num_envs), np.float32), "next_obs": obs + 10,
                 "next_masks": np.ones((1, num_envs, 2), bool), "terminated": done, "dones": done})


def test_uniform_sampling_reaches_every_stored_transition_and_nothing_else():
    buf = ReplayBuffer(capacity=20, num_envs=2)
    add_counting(buf, 7, 2)
    assert len(buf) == 14
    seen = set(buf.sample(2000, np.random.default_rng(0))["obs"][:, 0].astype(int).tolist())
    assert seen == {t * 10 + e for t in range(7) for e in range(2)}


def test_ring_buffer_overwrites_the_oldest_rows():
    buf = ReplayBuffer(capacity=8, num_envs=2)  # 4 rows
    add_counting(buf, 6, 2)
    seen = set(buf.sample(1000, np.random.default_rng(0))["obs"][:, 0].astype(int).tolist())
    assert seen == {t * 10 + e for t in range(2, 6) for e in range(2)}


def test_n_step_sample_matches_a_direct_computation():
    gamma = 0.9
    buf = ReplayBuffer(capacity=100, num_envs=1, n_step=3, gamma=gamma)
    add_counting(buf, 10, 1, done_every=4)  # episodes end at t = 3, 7
    s = buf.gather(np.arange(10))
    for t in range(10):
        end = min(t + 3, 10)
        for k in range(t, end):  # stop after a done
            if (k + 1) % 4 == 0:
                end = k + 1
                break
        n = end - t
        assert s["returns"][t] == pytest.approx(sum(gamma**i for i in range(n)), rel=1e-6)
        assert s["discounts"][t] == pytest.approx(gamma**n, rel=1e-6)
        assert s["next_obs"][t, 0] == (end - 1) * 10 + 10
        assert s["terminated"][t] == ((end) % 4 == 0)


def test_sum_tree_finds_the_leaf_holding_each_prefix():
    tree = SumTree(5)
    tree.update(np.arange(5), np.array([1.0, 0.0, 2.0, 3.0, 4.0]))
    assert tree.total() == 10.0
    leaves = tree.find(np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99]))
    assert leaves.tolist() == [0, 0, 2, 2, 3, 3, 4, 4]


def test_prioritized_sampling_is_proportional_and_weights_correct_for_it():
    buf = PrioritizedReplayBuffer(capacity=4, num_envs=1, alpha=1.0, eps=0.0)
    add_counting(buf, 4, 1)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    rng = np.random.default_rng(0)
    counts = np.bincount(np.concatenate([buf.sample_indices(64, rng) for _ in range(500)]), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.01)
    w = buf.importance_weights(np.arange(4), beta=1.0)
    # w_i = (N P(i))^-1 normalised by the max: proportional to 1 / p_i
    np.testing.assert_allclose(w, [1.0, 0.5, 1 / 3, 0.25], rtol=1e-6)


def test_loading_a_buffer_of_another_layout_is_refused():
    small = ReplayBuffer(capacity=8, num_envs=2)
    add_counting(small, 3, 2)
    with pytest.raises(ValueError, match="does not match"):
        ReplayBuffer(capacity=8, num_envs=1).load_state(small.state())
    same = ReplayBuffer(capacity=8, num_envs=2)
    same.load_state(small.state())
    assert len(same) == 6


@pytest.mark.parametrize("seed", range(6))
def test_n_step_windows_match_the_history_across_wraparound_truncations_and_chunked_adds(seed):
    rng = np.random.default_rng(seed)
    E, n, gamma = int(rng.integers(1, 4)), int(rng.integers(2, 5)), 0.8
    buf = ReplayBuffer(capacity=int(rng.integers(n + 1, 12)) * E, num_envs=E, n_step=n, gamma=gamma)
    H = 40  # steps of history, more than the buffer holds: the ring wraps
    terminated = rng.random((H, E)) < 0.1
    dones = terminated | (rng.random((H, E)) < 0.1)  # the others truncated: bootstrapped
    hist = {"obs": rng.normal(size=(H, E, 2)).astype(np.float32), "actions": rng.integers(0, 3, (H, E)),
            "rewards": rng.normal(size=(H, E)).astype(np.float32),
            "next_obs": rng.normal(size=(H, E, 2)).astype(np.float32),
            "next_masks": rng.random((H, E, 3)) < 0.7, "terminated": terminated, "dones": dones}
    t = 0
    while t < H:  # added in iterations of 1 to 6 steps
        k = min(int(rng.integers(1, 7)), H - t)
        buf.add({key: v[t:t + k] for key, v in hist.items()})
        t += k
    s = buf.gather(np.arange(len(buf)))
    for flat in range(len(buf)):
        row, e = divmod(flat, E)
        h = next(x for x in range(H - buf.rows, H) if x % buf.rows == row)  # the step stored there
        k, G = 0, 0.0
        while k < n and h + k < H:  # stop after an episode's end and at the newest step
            G += gamma**k * hist["rewards"][h + k, e]
            k += 1
            if dones[h + k - 1, e]:
                break
        last = h + k - 1
        assert s["returns"][flat] == pytest.approx(G, abs=1e-5)
        assert s["discounts"][flat] == pytest.approx(gamma**k)
        assert s["terminated"][flat] == terminated[last, e]
        np.testing.assert_array_equal(s["obs"][flat], hist["obs"][h, e])
        np.testing.assert_array_equal(s["next_obs"][flat], hist["next_obs"][last, e])
        np.testing.assert_array_equal(s["next_masks"][flat], hist["next_masks"][last, e])
