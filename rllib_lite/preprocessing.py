"""Observation preprocessing: gymnasium spaces to arrays, and where the action mask comes from.

An observation becomes a pair ``(x, mask)``:

* ``x`` is a float32 vector (the default MLP: Box, Discrete one-hot and Dict leaves flattened and
  concatenated in key order), or, for a user model, the observation in its own shape (a Dict
  becomes a dict of float32 arrays) so the user's network sees the structure it expects.
* ``mask`` is a bool vector over the discrete actions, True where the action is allowed. It comes
  from a Dict observation's ``"action_mask"`` key, or from the env's ``action_masks()`` method
  (read by the rollout worker), or is all True.

Batches of ``x`` are "trees": an array or a dict of arrays. The small ``tree_*`` helpers below
stack, index and convert them so the buffers and the learners never care which kind they hold.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Union

import gymnasium as gym
import numpy as np
import torch

MASK_KEY = "action_mask"

Tree = Union[np.ndarray, dict]


class UnsupportedSpaceError(ValueError):
    """The env's observation or action space is one rllib_lite cannot handle."""


def _check_leaf(space: gym.Space, where: str) -> None:
    if isinstance(space, gym.spaces.Box):
        if not np.issubdtype(space.dtype, np.number) and space.dtype != np.bool_:
            raise UnsupportedSpaceError(f"{where}: Box of dtype {space.dtype} is not supported")
        return
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiBinary)):
        return
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            _check_leaf(sub, f"{where}[{key!r}]")
        return
    raise UnsupportedSpaceError(
        f"{where}: {type(space).__name__} is not supported "
        "(observations may be Box, Discrete, MultiBinary or a Dict of those)"
    )


def _flat_dim(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiBinary):
        return int(np.prod(space.shape))
    return sum(_flat_dim(s) for s in space.spaces.values())


def _sized(x: np.ndarray, size: int, what: Any) -> np.ndarray:
    """``x`` if it holds ``size`` values; an observation with more or fewer would fail far from
    its env (a matmul or a stack of rows of two lengths) or be cut to fit."""
    if x.size != size:
        raise ValueError(f"{x.size} values, not the {size} of {what}")
    return x


def _leaf_array(space: gym.Space, obs: Any) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        index = int(obs) - int(space.start)
        if not 0 <= index < space.n:  # a negative index would set a one-hot from the end
            raise ValueError(f"{obs} is not in {space}")
        one_hot = np.zeros(space.n, dtype=np.float32)
        one_hot[index] = 1.0
        return one_hot
    return _sized(np.asarray(obs, dtype=np.float32), math.prod(space.shape), space)


def _flatten(space: gym.Space, obs: Any, out: list[np.ndarray]) -> None:
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            _flatten(sub, obs[key], out)
    else:
        out.append(_leaf_array(space, obs).reshape(-1))


def _structured(space: gym.Space, obs: Any) -> Tree:
    if isinstance(space, gym.spaces.Dict):
        return {key: _structured(sub, obs[key]) for key, sub in space.spaces.items()}
    return _leaf_array(space, obs)


class Preprocessor:
    """Turns one observation into ``(x, mask)``; built once per env from its spaces."""

    def __init__(
        self, observation_space: gym.Space, action_space: gym.Space, structured: bool = False
    ) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise UnsupportedSpaceError(
                f"action space {action_space} is not supported: rllib_lite's DQN and PPO need a "
                "Discrete action space"
            )
        self.num_actions = int(action_space.n)
        self.action_start = int(action_space.start)
        self.has_mask_key = False
        space = observation_space
        if isinstance(space, gym.spaces.Dict) and MASK_KEY in space.spaces:
            mask_space = space.spaces[MASK_KEY]
            shape = getattr(mask_space, "shape", None)
            if shape != (self.num_actions,):
                raise UnsupportedSpaceError(
                    f"observation space[{MASK_KEY!r}] must have shape ({self.num_actions},) to mask "
                    f"{self.num_actions} actions, got {mask_space}"
                )
            self.has_mask_key = True
            rest = {k: v for k, v in space.spaces.items() if k != MASK_KEY}
            if not rest:
                raise UnsupportedSpaceError(
                    f"observation space has only the {MASK_KEY!r} key and nothing to observe"
                )
            # A Dict of {"observation": ..., "action_mask": ...} is the common shape: unwrap it.
            self._only_key = next(iter(rest)) if len(rest) == 1 else None
            space = rest[self._only_key] if self._only_key is not None else gym.spaces.Dict(rest)
        _check_leaf(space, "observation space")
        self.space = space
        self.structured = structured
        self.flat_dim = _flat_dim(space)
        self._flat_box = isinstance(space, gym.spaces.Box)
        self._all_valid = np.ones(self.num_actions, dtype=bool)

    def __call__(self, obs: Any) -> tuple[Tree, np.ndarray]:
        """Raises (ValueError, KeyError, TypeError) for an observation that does not fit the
        space: values of another size, a Discrete value out of range, a missing Dict key."""
        mask = self._all_valid
        if self.has_mask_key:
            mask = _sized(np.asarray(obs[MASK_KEY]), self.num_actions, "the action mask")
            mask = mask.astype(bool).reshape(self.num_actions)
            obs = obs[self._only_key] if self._only_key is not None else obs
        if self.structured:
            return _structured(self.space, obs), mask
        if self._flat_box:
            return _sized(np.asarray(obs, dtype=np.float32).reshape(-1), self.flat_dim, self.space), mask
        parts: list[np.ndarray] = []
        _flatten(self.space, obs, parts)
        return np.concatenate(parts), mask


def extra_mask(mask: np.ndarray, extra: Any, source: str) -> np.ndarray:
    """``mask`` narrowed by ``extra`` (an ``action_masks()`` result or a caller's mask), which
    must hold one entry per action: a shorter one would broadcast or fail with numpy's error."""
    extra = np.asarray(extra, dtype=bool)
    if extra.shape != mask.shape:
        raise UnsupportedSpaceError(f"{source} has shape {extra.shape}, expected {mask.shape} "
                                    f"(one entry per action)")
    return mask & extra


def tree_stack(items: list[Tree]) -> Tree:
    """Stack a list of same-shaped trees along a new first axis."""
    first = items[0]
    if isinstance(first, dict):
        return {k: tree_stack([it[k] for it in items]) for k in first}
    return np.stack(items)


def tree_map(fn: Callable[[np.ndarray], Any], tree: Tree) -> Any:
    """Apply ``fn`` to every array leaf."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def tree_zip_map(fn: Callable[..., Any], *trees: Tree) -> Any:
    """Apply ``fn`` leaf-wise over trees of the same structure."""
    if isinstance(trees[0], dict):
        return {k: tree_zip_map(fn, *(t[k] for t in trees)) for k in trees[0]}
    return fn(*trees)


def to_torch(tree: Tree) -> Any:
    """Numpy tree to a torch tree (float32 arrays share memory, no copy)."""
    return tree_map(torch.from_numpy, tree)


def tree_len(tree: Tree) -> int:
    """Length of the first axis."""
    while isinstance(tree, dict):
        tree = next(iter(tree.values()))
    return int(tree.shape[0])
