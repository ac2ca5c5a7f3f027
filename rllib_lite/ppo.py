"""PPO (Schulman et al. 2017) with invalid-action masking: config, loss and update in one file.

One iteration: every env copy takes ``rollout_steps`` steps with the current policy; advantages by
GAE(lambda) with truncated episodes bootstrapped from V(s_final); then ``num_epochs`` passes of
shuffled minibatches over the clipped surrogate (eq. 7), a value loss (optionally clipped around
the old values), and an entropy bonus, with gradient-norm clipping and an approximate-KL early
stop. Masked actions have -inf logits in sampling and in the loss alike, so the ratio and the
entropy only ever see allowed actions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .algorithm import Algorithm
from .config import CommonConfig, check, linear
from .masking import masked_entropy, masked_log_probs
from .models import ActorCritic, make_adam
from .policies import PPOPolicy
from .preprocessing import to_torch, tree_map
from .returns import compute_gae


@dataclass(frozen=True)
class PPOConfig(CommonConfig):
    """PPO settings (defaults: rl-zoo's CartPole-v1 PPO, with 8 env copies)."""

    num_envs_per_worker: int = 8
    lr: float = 1e-3
    lr_schedule: str = "linear"
    gamma: float = 0.98
    rollout_steps: int = 32
    """Steps per env copy per iteration (SB3's n_steps)."""
    minibatch_size: int = 256
    """Samples per gradient step."""
    num_epochs: int = 20
    """Passes over each iteration's samples."""
    gae_lambda: float = 0.8
    """GAE lambda."""
    clip_range: float = 0.2
    """Surrogate clip epsilon (initial value when clip_schedule is "linear")."""
    clip_schedule: str = "linear"
    """"constant", or "linear" to 0 over schedule_steps env steps."""
    vf_clip_range: Optional[float] = None
    """Clip the value prediction to old value +- this; None: plain squared error."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    target_kl: Optional[float] = None
    """Stop the epochs when the approximate KL exceeds 1.5x this; None: never."""

    def __post_init__(self) -> None:
        self._validate_common()
        n = type(self).__name__
        check(isinstance(self.rollout_steps, int) and self.rollout_steps >= 1, n, "rollout_steps",
              "must be an int >= 1", self.rollout_steps)
        check(isinstance(self.minibatch_size, int) and self.minibatch_size >= 2, n,
              "minibatch_size", "must be an int >= 2", self.minibatch_size)
        check(isinstance(self.num_epochs, int) and self.num_epochs >= 1, n, "num_epochs",
              "must be an int >= 1", self.num_epochs)
        check(0.0 <= self.gae_lambda <= 1.0, n, "gae_lambda", "must be in [0, 1]", self.gae_lambda)
        check(0.0 < self.clip_range <= 1.0, n, "clip_range", "must be in (0, 1]", self.clip_range)
        check(self.clip_schedule in ("constant", "linear"), n, "clip_schedule",
              'must be "constant" or "linear"', self.clip_schedule)
        check(self.vf_clip_range is None or self.vf_clip_range > 0, n, "vf_clip_range",
              "must be > 0 or None", self.vf_clip_range)
        check(self.vf_coef >= 0, n, "vf_coef", "must be >= 0", self.vf_coef)
        check(self.ent_coef >= 0, n, "ent_coef", "must be >= 0", self.ent_coef)
        check(self.target_kl is None or self.target_kl > 0, n, "target_kl", "must be > 0 or None",
              self.target_kl)


class PPO(Algorithm):
    """Proximal Policy Optimization with masking; see the module docstring."""

    name = "PPO"
    config_cls = PPOConfig
    config: PPOConfig

    def _setup(self) -> None:
        c = self.config
        self.model = self._build_model(
            lambda: ActorCritic(self.preprocessor.flat_dim, self.num_actions, c.hidden_sizes, c.activation))
        self.optimizer = make_adam(self.model.parameters(), c.lr, eps=1e-5)

    def _make_policy(self, model: torch.nn.Module) -> PPOPolicy:
        return PPOPolicy(model)

    def _train_iteration(self) -> dict[str, Any]:
        c = self.config
        t0 = time.perf_counter()
        batch = self._sample(c.rollout_steps, {})
        t1 = time.perf_counter()
        # SB3 evaluates the schedules after the rollout, with progress counting its steps
        lr = self._current_lr()
        clip = linear(c.clip_range, 0.0, self._progress()) if c.clip_schedule == "linear" else c.clip_range
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rewards = batch["rewards"] + c.gamma * batch["final_values"]
        adv, returns = compute_gae(rewards, batch["values"], batch["dones"], batch["last_values"],
                                   c.gamma, c.gae_lambda)
        stats = self._update(batch, adv, returns, clip)
        t2 = time.perf_counter()
        return {"steps_this_iter": int(batch["rewards"].size),
                "episodes_this_iter": len(batch["episode_returns"]),
                "lr": lr, "clip_range": clip, **stats,
                "sample_seconds": t1 - t0, "learn_seconds": t2 - t1}

    def _update(self, batch: dict[str, Any], adv: np.ndarray, returns: np.ndarray, clip: float) -> dict[str, Any]:
        c = self.config

        def flat(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a.reshape(-1, *a.shape[2:])))  # (T*E, ...)

        obs = tree_map(lambda a: np.ascontiguousarray(a.reshape(-1, *a.shape[2:])), batch["obs"])
        obs_t = to_torch(obs)
        masks, actions = flat(batch["masks"]), flat(batch["actions"])
        old_logp, old_values = flat(batch["logp"]), flat(batch["values"])
        adv_t, returns_t = flat(adv), flat(returns)
        n = adv_t.shape[0]
        mb = min(c.minibatch_size, n)
        # CartPole-like envs mask nothing: skip the masked_fill then (same result, less work)
        any_masked = not bool(masks.all())
        params = [p for p in self.model.parameters() if p.requires_grad]
        stats: list[torch.Tensor] = []  # (pg_loss, v_loss, entropy, approx_kl, clip_fraction) per step
        stopped_early = False
        for _ in range(c.num_epochs):
            perm = torch.from_numpy(self.rng.permutation(n))
            for start in range(0, n, mb):
                # one minibatch of the whole batch: order does not change the mean gradient
                idx = perm[start:start + mb] if mb < n else slice(None)
                m = masks[idx]
                logits, values = self.model(tree_map(lambda t: t[idx], obs_t))
                # envs that mask nothing (CartPole) skip the masked_fill: same result, less work
                logp_all = masked_log_probs(logits, m) if any_masked else torch.log_softmax(logits, -1)
                logp = logp_all.gather(1, actions[idx].unsqueeze(1)).squeeze(1)  # (mb,)
                log_ratio = logp - old_logp[idx]
                ratio = log_ratio.exp()
                a = adv_t[idx]
                if c.normalize_advantages and a.numel() > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
                ret = returns_t[idx]
                if c.vf_clip_range is None:
                    v_loss = F.mse_loss(values, ret)
                else:
                    v_old = old_values[idx]
                    v_clipped = v_old + (values - v_old).clamp(-c.vf_clip_range, c.vf_clip_range)
                    v_loss = torch.max((values - ret) ** 2, (v_clipped - ret) ** 2).mean()
                loss = pg_loss + c.vf_coef * v_loss
                if c.ent_coef > 0:
                    entropy = masked_entropy(logp_all, m).mean()
                    loss = loss - c.ent_coef * entropy
                with torch.no_grad():
                    if c.ent_coef == 0:
                        entropy = masked_entropy(logp_all, m).mean()
                    # k3 estimator of KL(old || new) (Schulman 2020, "Approximating KL Divergence")
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clip_frac = ((ratio - 1).abs() > clip).float().mean()
                    stats.append(torch.stack([pg_loss, v_loss, entropy, approx_kl, clip_frac]))
                if c.target_kl is not None and float(approx_kl) > 1.5 * c.target_kl:
                    stopped_early = True
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, c.max_grad_norm)
                self.optimizer.step()
            if stopped_early:
                break
        means = torch.stack(stats).mean(0).tolist()
        var_y = float(np.var(returns))
        explained = 1 - float(np.var(returns - batch["values"])) / var_y if var_y > 0 else float("nan")
        return {
            "policy_loss": means[0], "value_loss": means[1], "entropy": means[2],
            "approx_kl": means[3], "clip_fraction": means[4],
            "explained_variance": explained, "stopped_early": stopped_early,
        }

    def _extra_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
