"""PPO (Schulman et al. 2017) with invalid-action masking: loss and update (``PPOConfig``, its
settings, is in ``config.py`` with the other configs, importable without torch).

One iteration: every env copy takes ``rollout_steps`` steps with the current policy; advantages by
GAE(lambda) with truncated episodes bootstrapped from V(s_final); then ``num_epochs`` passes of
shuffled minibatches over the clipped surrogate (eq. 7), a value loss (optionally clipped around
the old values), and an entropy bonus, with gradient-norm clipping and an approximate-KL early
stop. Masked actions have -inf logits in sampling and in the loss alike, so the ratio and the
entropy only ever see allowed actions.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._memory import Need, mlp_params, settings
from .algorithm import Algorithm
from .config import PPOConfig as PPOConfig
from .config import linear
from .masking import masked_entropy, masked_log_probs
from .models import ActorCritic
from .optim import gradient_step, make_adam
from .policies import PPOPolicy
from .preprocessing import to_torch, tree_map
from .returns import compute_gae


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

    def _storage_needs(self) -> list[Need]:
        c = self.config
        steps = c.rollout_steps * c.num_envs_per_worker * max(c.num_rollout_workers, 1)
        # per step: observation, mask, action (int64), log-prob and value (float32), collected
        # step by step and then stacked (two copies); reward, bootstrap value and three done
        # flags written in place; the bootstrapped reward, advantage and return (float32)
        per_step = 2 * (self._step_bytes() + 16) + 8 + 3 + 12
        return [Need("rollout", settings(c, "rollout_steps", "num_envs_per_worker", "num_rollout_workers"),
                     steps * per_step)]

    def _default_model_params(self) -> int | None:
        if self.config.model is not None:
            return None
        d, a, hidden = self.preprocessor.flat_dim, self.num_actions, list(self.config.hidden_sizes)
        return mlp_params([d, *hidden, a]) + mlp_params([d, *hidden, 1])  # policy and value nets

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
        normalize_each = c.normalize_advantages and mb > 1
        if normalize_each and mb == n:  # one minibatch, the whole batch: normalise once
            adv_t, normalize_each = (adv_t - adv_t.mean()) / (adv_t.std() + 1e-8), False
        actions = actions.unsqueeze(1)  # (n, 1), as gather takes it
        # CartPole-like envs mask nothing: skip the masked_fill then (same result, less work)
        any_masked = not bool(masks.all())
        params = [p for p in self.model.parameters() if p.requires_grad]
        # per step: the losses, and the detached tensors the diagnostics are computed from
        # once at the end (a dozen fewer small kernels per gradient step)
        losses: list[torch.Tensor] = []  # pg_loss, v_loss of each step
        logps: list[torch.Tensor] = []
        log_ratios: list[torch.Tensor] = []
        mask_rows: list[torch.Tensor] = []
        stopped_early = False
        for _ in range(c.num_epochs):
            perm = torch.from_numpy(self.rng.permutation(n))
            for start in range(0, n, mb):
                if mb < n:
                    idx = perm[start:start + mb]
                    obs_mb = tree_map(lambda t: t[idx], obs_t)
                else:  # one minibatch, the whole batch: order does not change the mean gradient
                    idx, obs_mb = slice(None), obs_t
                m = masks[idx]
                logits, values = self.model(obs_mb)
                # envs that mask nothing (CartPole) skip the masked_fill: same result, less work
                logp_all = masked_log_probs(logits, m) if any_masked else torch.log_softmax(logits, -1)
                logp = logp_all.gather(1, actions[idx]).squeeze(1)  # (mb,)
                log_ratio = logp - old_logp[idx]
                ratio = log_ratio.exp()
                a = adv_t[idx]
                if normalize_each and a.numel() > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
                ret = returns_t[idx]
                if c.vf_clip_range is None:
                    v_loss = F.mse_loss(values, ret)
                else:
                    v_old = old_values[idx]
                    # past float32's range (1e300) torch refuses the bound; it clips nothing there
                    bound = min(c.vf_clip_range, torch.finfo(values.dtype).max)
                    v_clipped = v_old + (values - v_old).clamp(-bound, bound)
                    v_loss = torch.max((values - ret) ** 2, (v_clipped - ret) ** 2).mean()
                loss = pg_loss + c.vf_coef * v_loss
                if c.ent_coef > 0:
                    loss = loss - c.ent_coef * masked_entropy(logp_all, m).mean()
                losses.append(pg_loss.detach())
                losses.append(v_loss.detach())
                logps.append(logp_all.detach())
                log_ratios.append(log_ratio.detach())
                mask_rows.append(m)
                if c.target_kl is not None:
                    # k3 estimator of KL(old || new) (Schulman 2020, "Approximating KL Divergence")
                    approx_kl = float(((ratio.detach() - 1) - log_ratio.detach()).mean())
                    if approx_kl > 1.5 * c.target_kl:
                        stopped_early = True
                        break
                gradient_step(self.optimizer, params, loss, c.max_grad_norm)
            if stopped_early:
                break
        pg_v = torch.stack(losses).view(-1, 2).mean(0).tolist()
        log_ratio_all = torch.cat(log_ratios)
        ratio_all = log_ratio_all.exp()
        entropy = masked_entropy(torch.cat(logps), torch.cat(mask_rows)).mean()
        approx_kl_mean = ((ratio_all - 1) - log_ratio_all).mean()  # k3 estimator, as above
        clip_frac = ((ratio_all - 1).abs() > clip).float().mean()
        var_y = float(np.var(returns))
        explained = 1 - float(np.var(returns - batch["values"])) / var_y if var_y > 0 else float("nan")
        return {
            "policy_loss": pg_v[0], "value_loss": pg_v[1], "entropy": float(entropy),
            "approx_kl": float(approx_kl_mean), "clip_fraction": float(clip_frac),
            "explained_variance": explained, "stopped_early": stopped_early,
        }

    def _extra_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
