"""Replay buffers for DQN: uniform, and proportional prioritized (Schaul et al. 2016).

Layout: ``(rows, E, ...)`` ring arrays, one column per env copy, so consecutive rows of a column
are consecutive steps of one env and n-step windows are read at sample time (the n-step return is
never baked in, so changing ``n`` needs no new data). A sample is addressed by the flat index
``row * E + env``. When a column's env stream is cut (its worker was replaced, or a restore
started fresh envs), ``end_streams`` marks its newest row done but not terminated, so windows
stop there and bootstrap from that row's own next observation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .preprocessing import tree_map, tree_zip_map
from .returns import n_step_returns


def buffer_rows(capacity: int, num_envs: int, n_step: int) -> int:
    """Rows of a buffer of ``capacity`` transitions over ``num_envs`` columns: enough for one
    n-step window and its bootstrap row even when the capacity is smaller."""
    return max(capacity // num_envs, n_step + 1)


def sum_tree_leaves(size: int) -> int:
    """Leaves of a :class:`SumTree` over ``size`` priorities: the next power of two (in integers:
    numpy's log2 refused sizes past int64, which the memory check sizes, and rounded down past
    2**48)."""
    return 1 << (max(size, 1) - 1).bit_length()


class ReplayBuffer:
    """Uniform replay over ``capacity`` transitions from ``num_envs`` parallel env copies."""

    def __init__(self, capacity: int, num_envs: int, n_step: int = 1, gamma: float = 0.99) -> None:
        self.num_envs = num_envs
        self.rows = buffer_rows(capacity, num_envs, n_step)
        self.n_step = n_step
        self.gamma = gamma
        self.pos = 0
        self.full = False
        self._data: dict[str, Any] | None = None

    def __len__(self) -> int:
        return (self.rows if self.full else self.pos) * self.num_envs

    def _alloc(self, batch: dict[str, Any]) -> dict[str, Any]:
        def empty(a: np.ndarray) -> np.ndarray:
            return np.zeros((self.rows, *a.shape[1:]), dtype=a.dtype)

        return {k: tree_map(empty, v) for k, v in batch.items()}

    def add(self, batch: dict[str, Any]) -> None:
        """Append T rows: each field is (T, E, ...) (a tree for obs and next_obs).

        Fields: obs, actions, rewards, next_obs, next_masks, terminated, dones.
        """
        if self._data is None:
            self._data = self._alloc(batch)
        T = len(batch["rewards"])
        idx = (self.pos + np.arange(T)) % self.rows
        for key, value in batch.items():
            def write(dst: np.ndarray, src: np.ndarray) -> None:
                dst[idx] = src

            tree_zip_map(write, self._data[key], value)
        self._on_add(idx)
        self.full = self.full or self.pos + T >= self.rows
        self.pos = int((self.pos + T) % self.rows)

    def end_streams(self, columns: np.ndarray) -> None:
        """End the env streams of the (E,) bool ``columns`` at the newest row: the next rows
        added there come from other env streams (new episodes)."""
        if self._data is None or len(self) == 0:
            return
        self._data["dones"][(self.pos - 1) % self.rows, columns] = True

    def _on_add(self, rows: np.ndarray) -> None:
        pass

    def _rows_filled(self) -> int:
        return self.rows if self.full else self.pos

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, len(self), size=batch_size)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        flat = self.sample_indices(batch_size, rng)
        return self.gather(flat)

    def gather(self, flat: np.ndarray) -> dict[str, Any]:
        """The n-step transitions starting at flat indices ``row * E + env``."""
        assert self._data is not None
        d = self._data
        row, env = flat // self.num_envs, flat % self.num_envs
        n = self.n_step
        window = (row[:, None] + np.arange(n)[None, :]) % self.rows  # (B, n)
        # steps available from `row` up to the newest row, pos - 1
        newest = (self.pos - 1) % self.rows
        available = (newest - row) % self.rows + 1
        envs = env[:, None]
        G, k, term = n_step_returns(
            d["rewards"][window, envs], d["dones"][window, envs], d["terminated"][window, envs],
            available, self.gamma,
        )
        last = window[np.arange(len(flat)), k - 1]
        return {
            "indices": flat,
            "obs": tree_map(lambda a: a[row, env], d["obs"]),
            "actions": d["actions"][row, env],
            "returns": G,
            "discounts": (self.gamma ** k).astype(np.float32),
            "next_obs": tree_map(lambda a: a[last, env], d["next_obs"]),
            "next_masks": d["next_masks"][last, env],
            "terminated": term,
        }

    def state(self) -> dict[str, Any]:
        return {"pos": self.pos, "full": self.full, "data": self._data, "num_envs": self.num_envs,
                "rows": self.rows}

    def load_state(self, state: dict[str, Any]) -> None:
        if (state["num_envs"], state["rows"]) != (self.num_envs, self.rows):
            raise ValueError(
                f"replay buffer layout {state['rows']}x{state['num_envs']} (rows x env copies) does "
                f"not match {self.rows}x{self.num_envs}")
        self.pos, self.full, self._data = state["pos"], state["full"], state["data"]


class SumTree:
    """Binary tree of priorities over ``size`` leaves; batched updates and prefix-sum search."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.leaf0 = sum_tree_leaves(size)
        self.tree = np.zeros(2 * self.leaf0, dtype=np.float64)

    def total(self) -> float:
        return float(self.tree[1])

    def update(self, leaves: np.ndarray, values: np.ndarray) -> None:
        nodes = leaves + self.leaf0
        self.tree[nodes] = values
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def find(self, prefix: np.ndarray) -> np.ndarray:
        """Leaf index whose cumulative range holds each prefix sum."""
        nodes = np.ones(len(prefix), dtype=np.int64)
        prefix = prefix.copy()
        while nodes[0] < self.leaf0:
            left = 2 * nodes
            go_right = prefix >= self.tree[left]
            prefix = np.where(go_right, prefix - self.tree[left], prefix)
            nodes = np.where(go_right, left + 1, left)
        return nodes - self.leaf0


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritisation: P(i) = p_i^alpha / sum_k p_k^alpha, importance weights
    (N P(i))^-beta / max_j (N P(j))^-beta (Schaul et al. 2016, section 3.3)."""

    def __init__(
        self, capacity: int, num_envs: int, n_step: int = 1, gamma: float = 0.99,
        alpha: float = 0.6, eps: float = 1e-6,
    ) -> None:
        super().__init__(capacity, num_envs, n_step, gamma)
        self.alpha = alpha
        self.eps = eps
        self.tree = SumTree(self.rows * num_envs)
        self.max_priority = 1.0

    def _on_add(self, rows: np.ndarray) -> None:
        flat = (rows[:, None] * self.num_envs + np.arange(self.num_envs)[None, :]).reshape(-1)
        self.tree.update(flat, np.full(len(flat), self.max_priority**self.alpha))

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        # stratified: one draw from each of batch_size equal slices of the total mass
        total = self.tree.total()
        bounds = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        flat = self.tree.find(np.minimum(bounds, np.nextafter(total, 0)))
        return np.minimum(flat, len(self) - 1)

    def importance_weights(self, flat: np.ndarray, beta: float) -> np.ndarray:
        probs = self.tree.tree[flat + self.tree.leaf0] / self.tree.total()
        weights = (len(self) * probs) ** (-beta)
        return (weights / weights.max()).astype(np.float32)

    def update_priorities(self, flat: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors) + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(flat, priorities**self.alpha)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "tree": self.tree.tree, "max_priority": self.max_priority}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.tree.tree = state["tree"]
        self.max_priority = state["max_priority"]
