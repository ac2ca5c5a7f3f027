"""What a rollout worker runs per step: a model plus an action rule.

A policy turns a batch of preprocessed observations and masks into actions, and says what
else the learner needs from sampling (PPO: log-probabilities and values; DQN: next observations).
Both are plain picklable objects, so a remote rollout worker receives one with its own model copy.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .masking import greedy_actions, masked_log_probs, random_valid_actions, sample_categorical


class PPOPolicy:
    """Samples from the masked softmax of the actor; records log-probs and values."""

    needs_next_obs = False

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def configure(self, **kwargs: Any) -> None:
        pass

    @torch.no_grad()
    def act(
        self, x: Any, masks: np.ndarray, rng: np.random.Generator, progress: float, explore: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        logits, values = self.model(x)
        mask_t = torch.from_numpy(masks)
        if not explore:
            return greedy_actions(logits, mask_t).numpy(), {}
        logp_all = masked_log_probs(logits, mask_t)  # (E, actions)
        actions = sample_categorical(logp_all.exp().numpy(), rng)
        logp = logp_all.gather(1, torch.from_numpy(actions)[:, None]).squeeze(1)
        return actions, {"logp": logp.numpy(), "values": values.numpy()}

    @torch.no_grad()
    def values(self, x: Any) -> np.ndarray:
        return self.model(x)[1].numpy()


class DQNPolicy:
    """Epsilon-greedy over the masked Q-values; epsilon moves linearly across one sample call."""

    needs_next_obs = True

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.epsilon = (0.0, 0.0)

    def configure(self, epsilon: tuple[float, float] = (0.0, 0.0), **kwargs: Any) -> None:
        self.epsilon = epsilon

    @torch.no_grad()
    def act(
        self, x: Any, masks: np.ndarray, rng: np.random.Generator, progress: float, explore: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n = masks.shape[0]
        eps = self.epsilon[0] + (self.epsilon[1] - self.epsilon[0]) * progress if explore else 0.0
        explore_rows = rng.random(n) < eps
        if explore_rows.all():
            # no forward pass needed: pure exploration, e.g. before learning starts
            return random_valid_actions(masks, rng), {}
        greedy = greedy_actions(self.model(x), torch.from_numpy(masks)).numpy()
        random_actions = random_valid_actions(masks, rng)
        return np.where(explore_rows, random_actions, greedy), {}
