"""What a rollout worker runs per step: a model plus an action rule.

A policy turns a batch of preprocessed observations (numpy trees, as the preprocessor makes
them) and masks into actions, and says what else the learner needs from sampling (PPO:
log-probabilities and values; DQN: next observations). Both are plain picklable objects, so a
remote rollout worker receives one with its own model copy.

The default networks run in numpy here (``models.numpy_forward``): acting on a few observations
per step is dominated by torch's per-op overhead. A user's ``nn.Module`` runs in torch under
``inference_mode`` and eval mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import linear
from .masking import greedy_actions, masked_log_softmax, random_valid_actions, sample_categorical
from .models import numpy_forward
from .preprocessing import to_torch


class _Policy:
    """The model, and its numpy forward when it is a default network."""

    needs_next_obs = False

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._np_forward = numpy_forward(model)

    def __getstate__(self) -> dict[str, Any]:
        # the numpy views are rebuilt from the model after unpickling
        return {k: v for k, v in self.__dict__.items() if k != "_np_forward"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._np_forward = numpy_forward(self.model)

    def configure(self, **kwargs: Any) -> None:
        """Called before each sample call; refreshes the numpy views of the weights."""
        self._np_forward = numpy_forward(self.model)

    def forward(self, x: Any) -> Any:
        """The model's output for a batch ``x`` (a numpy tree or torch tensors), as numpy."""
        if self._np_forward is not None and isinstance(x, np.ndarray):
            return self._np_forward(x)
        if _is_numpy_tree(x):
            x = to_torch(x)
        # acting is inference: eval mode (dropout off, batch norm on its running statistics),
        # as SB3's set_training_mode(False) for rollouts; the learner's mode is put back after
        training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(x)
        finally:
            self.model.train(training)
        if isinstance(out, (tuple, list)):
            return tuple(_as_numpy(o) for o in out)
        return _as_numpy(out)


def _as_numpy(out: Any) -> Any:
    return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out


class ModelOutputError(ValueError):
    """A user model's forward returned outputs of the wrong kind or shape, or a model's logits
    give no action distribution (NaN or infinite)."""


def _shape(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return str(tuple(shape)) if shape is not None else type(x).__name__


def check_ppo_output(out: Any, batch: int, num_actions: int) -> None:
    """PPO's contract: ``(logits (batch, actions), value (batch,))``."""
    expected = f"(logits {(batch, num_actions)}, value {(batch,)})"
    if not isinstance(out, tuple) or len(out) != 2:
        got = f"{len(out)} outputs" if isinstance(out, tuple) else f"one output of shape {_shape(out)}"
        raise ModelOutputError(f"PPO model must return {expected}, got {got}")
    logits, values = out
    if getattr(logits, "shape", None) != (batch, num_actions) or getattr(values, "shape", None) != (batch,):
        raise ModelOutputError(
            f"PPO model must return {expected}, got (logits {_shape(logits)}, value {_shape(values)})")


def check_dqn_output(out: Any, batch: int, num_actions: int) -> None:
    """DQN's contract: ``q_values (batch, actions)``."""
    if isinstance(out, tuple) or getattr(out, "shape", None) != (batch, num_actions):
        got = f"{len(out)} outputs" if isinstance(out, tuple) else _shape(out)
        raise ModelOutputError(f"DQN model must return q_values of shape {(batch, num_actions)}, got {got}")


def _is_numpy_tree(x: Any) -> bool:
    while isinstance(x, dict):
        x = next(iter(x.values()))
    return isinstance(x, np.ndarray)


class PPOPolicy(_Policy):
    """Samples from the masked softmax of the actor; records log-probs and values."""

    def act(
        self, x: Any, masks: np.ndarray, rng: np.random.Generator, progress: float, explore: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = self.forward(x)
        if self._np_forward is None:
            check_ppo_output(out, masks.shape[0], masks.shape[1])
        logits, values = out
        if not explore:
            return greedy_actions(logits, masks), {}
        with np.errstate(invalid="ignore"):  # inf - inf: the NaN it makes is refused below
            logp_all = masked_log_softmax(logits, masks)  # (E, actions)
        probs = np.exp(logp_all)
        broken = np.isnan(probs).any(axis=-1)
        if broken.any():
            # NaN probabilities match no interval of the sampler, which would then take action 0,
            # allowed or not: a diverged model would make the env's error for that action the
            # run's error
            raise ModelOutputError(
                f"PPO model returned logits that are NaN or infinite (no distribution over the "
                f"allowed actions) for {int(broken.sum())} of {len(broken)} observations: its "
                "weights or outputs are not finite (did training diverge?)")
        actions = sample_categorical(probs, rng)
        logp = logp_all[np.arange(len(actions)), actions]
        return actions, {"logp": logp.astype(np.float32), "values": values.astype(np.float32)}

    def values(self, x: Any) -> np.ndarray:
        return self.forward(x)[1].astype(np.float32)


@dataclass(frozen=True)
class EpsilonSchedule:
    """Stable-Baselines3's DQN exploration by env step: uniformly random actions (epsilon 1)
    before ``learning_starts``, then epsilon linear from ``initial`` to ``final`` over the first
    ``exploration_steps`` env steps, and ``final`` after."""

    initial: float
    final: float
    exploration_steps: int
    learning_starts: int = 0

    def __call__(self, step: float) -> float:
        if step < self.learning_starts:
            return 1.0
        return linear(self.initial, self.final,
                      step / self.exploration_steps if self.exploration_steps else 1.0)


class DQNPolicy(_Policy):
    """Epsilon-greedy over the masked Q-values.

    ``configure(schedule=s, steps=(first, end))``: the sample call covers env steps
    ``first .. end`` (all env copies together) and step t of T uses ``s(first + (end - first) * t / T)``,
    the env-step count before that step (rounded to the integer it is), as SB3 does;
    ``configure(epsilon=e)``: a fixed epsilon.
    """

    needs_next_obs = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.epsilon = 0.0
        self.schedule: EpsilonSchedule | None = None
        self.steps = (0, 0)

    def configure(self, epsilon: float = 0.0, schedule: EpsilonSchedule | None = None,
                  steps: tuple[int, int] = (0, 0), **kwargs: Any) -> None:
        super().configure()
        self.epsilon, self.schedule, self.steps = epsilon, schedule, steps

    def act(
        self, x: Any, masks: np.ndarray, rng: np.random.Generator, progress: float, explore: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n = masks.shape[0]
        if not explore:
            eps = 0.0
        elif self.schedule is not None:
            # an integer count: (end - first) * t / T in floats can fall just short of one
            # (100 * (29 / 100) is 28.999999999999996), a step early at learning_starts
            eps = self.schedule(self.steps[0] + round((self.steps[1] - self.steps[0]) * progress))
        else:
            eps = self.epsilon
        explore_rows = rng.random(n) < eps
        if explore_rows.all():
            # no forward pass needed: pure exploration, e.g. before learning starts
            return random_valid_actions(masks, rng), {}
        q = self.forward(x)
        if self._np_forward is None:
            check_dqn_output(q, n, masks.shape[1])
        greedy = greedy_actions(q, masks)
        random_actions = random_valid_actions(masks, rng)
        return np.where(explore_rows, random_actions, greedy), {}
