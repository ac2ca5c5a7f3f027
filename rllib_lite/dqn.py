"""DQN (Mnih et al. 2015) with masking: loss and update (``DQNConfig``, its settings, is in
``config.py`` with the other configs, importable without torch).

Options: double DQN (van Hasselt et al. 2016: the online net picks the next action, the target
net scores it), dueling heads (Wang et al. 2016), n-step returns read from the replay buffer at
sample time, proportional prioritized replay (Schaul et al. 2016), and a target net updated every
``target_update_interval`` env steps, hard (tau = 1) or Polyak (tau < 1).

One iteration: ``train_freq`` env steps in total (uniformly random before ``learning_starts``,
then epsilon-greedy, epsilon linear from ``epsilon_initial`` to ``epsilon_final`` over
``exploration_steps``, as Stable-Baselines3 does), then, once past
``learning_starts``, ``gradient_steps`` Huber-loss updates on minibatches from the buffer.
Masked actions get Q = -inf, both when acting and in the bootstrap max over next actions.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any

import torch
import torch.nn.functional as F

from ._memory import Need, mlp_params, settings
from .algorithm import Algorithm
from .config import DQNConfig as DQNConfig
from .config import linear
from .masking import mask_logits
from .models import QNetwork
from .optim import gradient_step, make_adam
from .policies import DQNPolicy, EpsilonSchedule
from .preprocessing import to_torch, tree_map
from .replay import PrioritizedReplayBuffer, ReplayBuffer, buffer_rows, sum_tree_leaves

logger = logging.getLogger(__name__)


def polyak_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """target <- tau * online + (1 - tau) * target for the parameters; buffers (BatchNorm's
    running statistics) are copied, as SB3 does: an average of two running variances is the
    variance of neither net's inputs."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            if tau >= 1.0:
                t.copy_(o)
            else:
                t.mul_(1.0 - tau).add_(o, alpha=tau)
        for t, o in zip(target.buffers(), online.buffers()):
            t.copy_(o)


class DQN(Algorithm):
    """Deep Q-learning with masking; see the module docstring."""

    name = "DQN"
    config_cls = DQNConfig
    config: DQNConfig

    def _setup(self) -> None:
        c = self.config
        self.model = self._build_model(lambda: QNetwork(
            self.preprocessor.flat_dim, self.num_actions, c.hidden_sizes, c.activation, c.dueling))
        self.target = copy.deepcopy(self.model)
        self.target.requires_grad_(False)
        self.target.eval()  # it only ever scores next states (SB3's q_net_target)
        self.optimizer = make_adam(self.model.parameters(), c.lr)
        total_envs = c.num_envs_per_worker * max(c.num_rollout_workers, 1)
        if c.prioritized_replay:
            self.buffer: ReplayBuffer = PrioritizedReplayBuffer(
                c.buffer_size, total_envs, c.n_step, c.gamma, c.prioritized_alpha)
        else:
            self.buffer = ReplayBuffer(c.buffer_size, total_envs, c.n_step, c.gamma)
        self.gradient_steps_done = 0
        self.exploration = EpsilonSchedule(c.epsilon_initial, c.epsilon_final, c.exploration_steps,
                                           c.learning_starts)

    def _make_policy(self, model: torch.nn.Module) -> DQNPolicy:
        return DQNPolicy(model)

    def _storage_needs(self) -> list[Need]:
        c = self.config
        envs = c.num_envs_per_worker * max(c.num_rollout_workers, 1)
        rows = buffer_rows(c.buffer_size, envs, c.n_step)
        # the buffer holds buffer_size transitions unless n-step windows need more rows
        sized_by = (("buffer_size",) if rows == c.buffer_size // envs
                    else ("n_step", "num_envs_per_worker", "num_rollout_workers"))
        d, a = self.preprocessor.flat_dim, self.num_actions
        # per transition: observation, next observation and its mask, action (int64), reward
        # (float32) and two done flags
        stored = 8 * d + a + 14
        needs = [Need("replay buffer", settings(c, *sized_by), rows * envs * stored)]
        if c.prioritized_replay:  # float64 nodes over a power-of-two number of leaves
            needs.append(Need("priority sum tree", settings(c, *sized_by), 16 * sum_tree_leaves(rows * envs)))
        # one iteration's sample: observations, next observations, both masks and actions,
        # collected step by step and then stacked (two copies); reward and three flags
        sampled = max(c.train_freq // envs, 1) * envs
        needs.append(Need("sampled steps", settings(c, "train_freq"), sampled * (2 * (8 * d + 2 * a + 8) + 7)))
        # minibatches gathered at once (uniform replay: all of an iteration's): the stored
        # fields, index arithmetic, the n-step windows, returns, discounts, and Q-values of the
        # next observations
        drawn = c.batch_size * (1 if c.prioritized_replay else c.gradient_steps)
        per_draw = stored + 40 + 14 * c.n_step + 8 * a
        needs.append(Need("minibatches", settings(c, "batch_size", "n_step") if c.prioritized_replay
                          else settings(c, "gradient_steps", "batch_size", "n_step"), drawn * per_draw))
        return needs

    def _default_model_params(self) -> int | None:
        c = self.config
        if c.model is not None:
            return None
        d, a, hidden = self.preprocessor.flat_dim, self.num_actions, list(c.hidden_sizes)
        if not c.dueling:
            return mlp_params([d, *hidden, a])
        width = hidden[-1] if hidden else d
        return mlp_params([d, *hidden]) + mlp_params([width, 1]) + mlp_params([width, a])

    def _model_copies(self) -> int:
        return super()._model_copies() + 1  # the target net (no gradients, no moments)

    @property
    def epsilon(self) -> float:
        """Exploration epsilon for the next env step."""
        return self.exploration(self.env_steps)

    def _train_iteration(self) -> dict[str, Any]:
        c = self.config
        t0 = time.perf_counter()
        num_envs = self.buffer.num_envs
        steps_per_env = max(c.train_freq // num_envs, 1)
        start = self.env_steps
        end = start + steps_per_env * num_envs
        # each step's epsilon from its env-step count, as SB3's (random before learning_starts)
        batch = self._sample(steps_per_env, {"schedule": self.exploration, "steps": (start, end)})
        self.buffer.end_streams(batch["fresh"])  # before the new streams' first rows
        self.buffer.add({k: batch[k] for k in
                         ("obs", "actions", "rewards", "next_obs", "next_masks", "terminated", "dones")})
        t1 = time.perf_counter()
        # the target follows the online net every target_update_interval env steps (SB3's
        # _on_step). The online net is fixed while sampling, so the k updates due in this
        # iteration are one with 1 - (1 - tau)^k: a copy when tau = 1
        due = self.env_steps // c.target_update_interval - start // c.target_update_interval
        if due > 0:
            polyak_update(self.target, self.model, c.tau if due == 1 else 1.0 - (1.0 - c.tau) ** due)
        lr = self._current_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        learns = self.env_steps > c.learning_starts and c.gradient_steps > 0
        stats = self._learn(c.gradient_steps) if learns else None
        t2 = time.perf_counter()
        return {"steps_this_iter": int(batch["rewards"].size),
                "episodes_this_iter": len(batch["episode_returns"]), "epsilon": self.epsilon, "lr": lr,
                "loss": stats[0] if stats else None, "q_mean": stats[1] if stats else None,
                "gradient_steps_total": self.gradient_steps_done,
                "sample_seconds": t1 - t0, "learn_seconds": t2 - t1}

    def td_targets(self, sample: dict[str, Any]) -> torch.Tensor:
        """r^(n) + gamma^n * (1 - terminated) * Q_target(s', a*) with a* over allowed actions."""
        next_obs = to_torch(sample["next_obs"])
        next_masks = torch.from_numpy(sample["next_masks"])
        with torch.no_grad():
            q_next = mask_logits(self.target(next_obs), next_masks)  # (B, actions)
            if self.config.double_q:
                best = mask_logits(self.model(next_obs), next_masks).argmax(dim=1, keepdim=True)
                v_next = q_next.gather(1, best).squeeze(1)
            else:
                v_next = q_next.max(dim=1).values
            # a terminal state (or one with no allowed action) is worth nothing
            stop = torch.from_numpy(sample["terminated"]) | ~next_masks.any(dim=1)
            v_next = torch.where(stop, torch.zeros_like(v_next), v_next)
            return torch.from_numpy(sample["returns"]) + torch.from_numpy(sample["discounts"]) * v_next

    def _learn(self, steps: int) -> list[float]:
        """``steps`` gradient steps; returns the mean loss and mean Q of the taken actions."""
        c = self.config
        prioritized = isinstance(self.buffer, PrioritizedReplayBuffer)
        params = [p for p in self.model.parameters() if p.requires_grad]
        fixed_targets = None
        if not prioritized:
            # Uniform draws do not depend on the updates, and without double Q the targets only
            # use the target net, fixed during these steps: draw every minibatch, convert it to
            # torch and compute every target in one batched pass (same numbers as step by step,
            # far fewer small kernels and conversions).
            everything = self.buffer.sample(steps * c.batch_size, self.rng)
            all_obs = to_torch(everything["obs"])  # (steps * batch, ...)
            all_actions = torch.from_numpy(everything["actions"]).unsqueeze(1)  # (steps * batch, 1)
            if not c.double_q:
                fixed_targets = self.td_targets(everything)
        losses, q_taken_all = [], []
        for i in range(steps):
            if prioritized:
                sample = self.buffer.sample(c.batch_size, self.rng)
                obs, actions = to_torch(sample["obs"]), torch.from_numpy(sample["actions"]).unsqueeze(1)
                targets = self.td_targets(sample)
            else:
                rows = slice(i * c.batch_size, (i + 1) * c.batch_size)
                obs, actions = tree_map(lambda t: t[rows], all_obs), all_actions[rows]
                if fixed_targets is not None:
                    targets = fixed_targets[rows]
                else:
                    targets = self.td_targets({k: tree_map(lambda a: a[rows], v) for k, v in everything.items()})
            q_taken = self.model(obs).gather(1, actions).squeeze(1)  # (batch,)
            if prioritized:
                beta = linear(c.prioritized_beta, 1.0, self._progress())
                weights = torch.from_numpy(self.buffer.importance_weights(sample["indices"], beta))
                loss = (weights * F.smooth_l1_loss(q_taken, targets, reduction="none")).mean()
                self.buffer.update_priorities(sample["indices"], (q_taken - targets).detach().numpy())
            else:
                loss = F.smooth_l1_loss(q_taken, targets)
            gradient_step(self.optimizer, params, loss, c.max_grad_norm)
            self.gradient_steps_done += 1
            losses.append(loss.detach())
            q_taken_all.append(q_taken.detach())
        return [float(torch.stack(losses).mean()), float(torch.cat(q_taken_all).mean())]

    def _extra_state(self) -> dict[str, Any]:
        return {"target": self.target.state_dict(), "optimizer": self.optimizer.state_dict(),
                "buffer": self.buffer.state(), "gradient_steps_done": self.gradient_steps_done}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        try:
            self.buffer.load_state(state["buffer"])
        except ValueError as err:
            # another number of env copies than the checkpoint's: the transitions cannot be
            # laid out per env column again, so learning restarts from an empty buffer
            logger.warning("replay buffer not restored: %s", err)
        self.gradient_steps_done = state["gradient_steps_done"]
