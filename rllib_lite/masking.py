"""Invalid-action masking for categorical policies and Q-values.

Masked logits and masked Q-values are set to -inf, so a masked action gets exactly zero
probability mass and can never win an argmax (Huang & Ontanon 2022, "A Closer Look at
Invalid Action Masking in Policy Gradient Algorithms"). Sampling is done with numpy from the
softmax, with the uniform draw scaled by the row total, so rounding can never land on a
zero-probability action.
"""
from __future__ import annotations

import numpy as np
import torch


class NoValidActionError(RuntimeError):
    """An action mask allowed no action at all."""


def check_masks(masks: np.ndarray, source: str = "the env") -> None:
    """Raise if any row of a (batch, actions) bool mask allows nothing; ``source`` names where
    the masks came from (the env) in the error."""
    if not masks.any(axis=-1).all():
        rows = np.flatnonzero(~masks.any(axis=-1)).tolist()
        raise NoValidActionError(f"{source} produced an action mask with no valid action "
                                 f"(all {masks.shape[-1]} actions masked; batch rows {rows})")


def mask_logits(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Set masked entries of (batch, actions) logits or Q-values to -inf."""
    return values.masked_fill(~mask, float("-inf"))


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the allowed actions; masked entries are -inf."""
    return torch.log_softmax(mask_logits(logits, mask), dim=-1)


def masked_entropy(log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Entropy per row of a masked categorical; 0 * log 0 is taken as 0."""
    # zero the -inf log-probs before the product, not after: where() passes a zero gradient
    # into p * log p there, and 0 * (d/dlogp = p log p + p = 0 * -inf) is NaN, which
    # log_softmax's backward then spreads over the whole row
    safe = torch.where(mask, log_probs, torch.zeros_like(log_probs))
    return -(log_probs.exp() * safe).sum(-1)


def sample_categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of (batch, actions) probabilities; zero-probability actions never."""
    cdf = np.cumsum(probs.astype(np.float64), axis=-1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    # action a is chosen when cdf[a-1] <= u < cdf[a]: an empty interval when probs[a] == 0
    return (cdf <= u[:, None]).sum(axis=-1).astype(np.int64)


def random_valid_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random allowed action per row of a (batch, actions) bool mask."""
    scores = rng.random(masks.shape)
    scores[~masks] = -1.0
    return scores.argmax(axis=-1).astype(np.int64)


def greedy_actions(values: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Argmax over allowed actions of (batch, actions) logits or Q-values."""
    return np.where(masks, values, -np.inf).argmax(axis=-1)


def masked_log_softmax(logits: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Numpy twin of ``masked_log_probs`` for acting: masked entries are -inf."""
    z = np.where(masks, logits, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
